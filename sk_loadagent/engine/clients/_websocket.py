"""WebSocket sessions: a connection per client, a message per call, replies by correlation, on callbacks.

Each client is one session: the engine keeps one per VU on the closed model and a pool of them on the open
one. A call sends the block's ``send`` message and ends when the reply whose ``correlate`` value (a JSONPath
read in both) equals the sent one arrives; without ``correlate`` the next message is the reply. The engine
times the call from the moment it was due, so its latency is the round trip from the intended send. Beside
it, the hub keeps:

- ``connectTime``: the TCP, TLS and opening handshake of each session;
- ``connects``, ``reconnects`` (sessions opened to replace one that broke), ``closedByPeer``,
  ``connectFailures``, ``lost`` (calls without their reply: timed out, or cut at the end);
- ``pushLatency``: a pushed message's publish-side timestamp (``subscribe.timestamp``) to its receipt, and
  ``pushes``; other messages that answer no call are ``unmatched``.

``messagesPerConnection`` makes churn: a session closes after that many messages and the engine opens a
new one for the next call.

A session is an ``asyncio.Protocol`` (``FastWebSocketConnection``) that writes and parses RFC 6455 frames
itself: the library's client runs a task and a queue per session and a coroutine per message, which cost
more per message than k6 did; frames on callbacks keep a message's cost near an HTTP request's. The
``websockets`` library still masks the payloads (its C ``apply_mask``). The callback flow driver
(``engine._flow_fast``) drives the connection directly; ``WebSocketClient`` wraps it in the ``Client``
interface (a future per call) for flows that run on tasks. What a session does not do: extensions
(permessage-deflate is not offered), subprotocols, and messages of more than ``MAX_MESSAGE`` bytes (the
session fails as a protocol error).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import orjson

from sk_loadagent.engine._requests import USER_AGENT
from sk_loadagent.engine._tls import client_context
from sk_loadagent.engine.clients._broker import SurfaceStats, message_bytes
from sk_loadagent.engine.clients._callbacks import CallbackConnection, FutureAnswers
from sk_loadagent.engine.clients.base import Call, Client, ClientError, ClientTarget, Reply
from sk_loadagent.engine.result import Outcome
from sk_loadagent.extras import require
from sk_loadagent.measurements import SurfaceMeasurements
from sk_loadagent.models.jsonpath import MISSING, JsonPath, compile_json_path
from sk_loadagent.models.plan import TlsOptions
from sk_loadagent.models.surfaces import WebSocketSurface

_perf_counter = time.perf_counter
_MS_ABOVE = 1e11  # a timestamp above this is in milliseconds (1e11 s is the year 5138)
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEAD = 65536  # a handshake reply's head longer than this is not a WebSocket server's
MAX_MESSAGE = 64 * 1024 * 1024
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_CLOSE_NORMAL = b"\x03\xe8"  # status 1000
_KEYS = 1024  # masking keys drawn from the OS at a time (4 bytes each)


def _key(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _frame_head(first: int, size: int) -> bytes:
    """A client frame's header up to the masking key: ``first`` is FIN and the opcode; the mask bit set."""
    if size < 126:
        return bytes((first, 0x80 | size))
    if size < 65536:
        return bytes((first, 0xFE)) + size.to_bytes(2, "big")
    return bytes((first, 0xFF)) + size.to_bytes(8, "big")


class WebSocketHub:
    """What the sessions of one worker share: the block, the handshake, the TLS context, the measurements."""

    kind = "websocket"

    def __init__(self, block: WebSocketSurface, timeout: float, tls: TlsOptions | None) -> None:
        require("websockets", "surfaces", "surface: websocket")
        try:
            from websockets.speedups import apply_mask  # the C version
        except ImportError:  # a build without its C extension
            from websockets.utils import apply_mask
        self.apply_mask: Callable[[bytes, bytes], bytes] = apply_mask
        assert block.url is not None, "resolve the block's URL first"
        self.block = block
        self.url = block.url
        parts = urlsplit(self.url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "wss" else 80)
        resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = 443 if parts.scheme == "wss" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if self.port == default_port else f"{host}:{self.port}"
        lines = [f"GET {resource} HTTP/1.1", f"Host: {authority}", "Upgrade: websocket"]
        lines += ["Connection: Upgrade", "Sec-WebSocket-Version: 13", f"User-Agent: {USER_AGENT}"]
        lines += [f"{name}: {value}" for name, value in block.headers.items()]
        self.request_head = ("\r\n".join(lines) + "\r\n").encode("latin-1")  # the key line and the end follow
        self.timeout = timeout
        self.stats = SurfaceStats(self.kind)
        self.notes = self.stats.notes
        self.ssl: ssl.SSLContext | None = None
        if parts.scheme == "wss":
            self.ssl = client_context(tls or TlsOptions(), alpn=["http/1.1"])
        self.correlate: JsonPath | None = compile_json_path(block.correlate) if block.correlate else None
        subscribe = block.subscribe
        self.timestamp: JsonPath | None = (
            compile_json_path(subscribe.timestamp) if subscribe is not None and subscribe.timestamp else None
        )
        self.hello: bytes | None = (
            message_bytes(subscribe.send.template()) if subscribe is not None and subscribe.send else None
        )
        self.broken_unreplaced = 0
        self._keys = b""
        self._key_at = 0

    def mask_key(self) -> bytes:
        """A fresh masking key for a client frame (RFC 6455 5.3: from a strong source, one per frame)."""
        at = self._key_at
        if at >= len(self._keys):
            self._keys, at = os.urandom(4 * _KEYS), 0
        self._key_at = at + 4
        return self._keys[at : at + 4]

    def frame(self, payload: bytes, opcode: int = _TEXT) -> bytes:
        """One masked, final client frame carrying ``payload``."""
        key = self.mask_key()
        return _frame_head(0x80 | opcode, len(payload)) + key + self.apply_mask(payload, key)

    def message(self, params: dict[str, Any]) -> tuple[bytes, str | None]:
        """A call's message and the correlation value its reply must carry (None: the next message);
        raises ClientError when the message lacks the correlation field."""
        body = message_bytes(params)
        correlate = self.correlate
        if correlate is None:
            return body, None
        sent = params.get("json")
        value = correlate.first(sent) if sent is not None else MISSING
        if value is MISSING:
            raise ClientError("correlation", f"the sent message has no {self.block.correlate}")
        return body, _key(value)

    async def start_or_note(self) -> None:
        """Nothing shared to open: each session connects on its own."""

    async def aclose(self) -> None:
        """Nothing shared to close: the engine closes each session."""

    def new(self) -> Client:
        return WebSocketClient(self)

    def measurements(self, target: str) -> SurfaceMeasurements:
        return self.stats.measurements(target)


class FastWebSocketConnection(CallbackConnection):
    """One WebSocket session (ws:// or wss://) carrying one message at a time, on callbacks.

    ``send((message, expected), keeps)`` writes a text frame; when the reply it waits for arrives, its bytes
    are in ``body`` and ``answered()`` is called, or ``failed(outcome)`` when the call ends without a reply
    (the session broke, or the engine aborted it). The attributes are ``FastHttpConnection``'s, so a flow
    step judges either the same way (``status`` is None: a message has none).
    """

    def __init__(
        self, hub: WebSocketHub, answered: Callable[[], None], failed: Callable[[Outcome], None]
    ) -> None:
        super().__init__(answered, failed)
        self._hub = hub
        self._handshake: asyncio.Future[None] | None = None
        self._accept = b""
        self._rest = b""  # bytes of a frame (or of the handshake's reply) not complete yet
        self._fragments: list[bytes] = []
        self._open = False
        self._closing = False  # this side closes: what ends the session then is not the peer's doing
        self._ended = False  # the session's end was counted
        self._sent = 0
        self._expected: str | None = None

    # -- connecting ------------------------------------------------------------------------------------------
    async def connect(self, target: ClientTarget) -> None:
        """Open the session (TCP, TLS, the opening handshake) within the hub's timeout; raises ClientError."""
        hub = self._hub
        stats = hub.stats
        began = _perf_counter()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(hub.timeout):
                self._handshake = loop.create_future()
                await loop.create_connection(
                    lambda: self,
                    hub.host,
                    hub.port,
                    ssl=hub.ssl,
                    server_hostname=hub.host if hub.ssl is not None else None,
                )
                await self._handshake
        except asyncio.CancelledError:
            self.drop()
            raise
        except Exception as exc:
            stats.counts["connectFailures"] += 1
            self.drop()
            if isinstance(exc, ssl.SSLError | ssl.CertificateError):
                raise ClientError("tls") from None
            if isinstance(exc, ConnectionRefusedError):
                raise ClientError("connectRefused") from None
            raise ClientError("connectError") from None
        stats.timed("connectTime", began, _perf_counter() - began)
        stats.counts["connects"] += 1
        if hub.broken_unreplaced > 0:
            hub.broken_unreplaced -= 1
            stats.counts["reconnects"] += 1
        if hub.hello is not None:
            self._write(hub.frame(hub.hello))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._tr = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        key = base64.b64encode(os.urandom(16))
        self._accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        self._tr.write(self._hub.request_head + b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")

    def _handshake_reply(self, data: bytes) -> bytes | None:
        """The bytes after the handshake's reply once it is complete and accepts the session, else None."""
        data = self._rest + data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self._rest = data
            if len(data) > _MAX_HEAD:
                self._handshake_failed(ConnectionError("the handshake's reply has no end"))
            return None
        self._rest = b""
        lines = data[:end].split(b"\r\n")
        status = lines[0].split(b" ", 2)
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if len(status) < 2 or status[1] != b"101":
            self._handshake_failed(ConnectionError(f"the server answered {lines[0]!r}, not 101"))
        elif headers.get(b"upgrade", b"").lower() != b"websocket":
            self._handshake_failed(ConnectionError("the server's reply does not upgrade to websocket"))
        elif headers.get(b"sec-websocket-accept") != self._accept:
            self._handshake_failed(ConnectionError("the server's Sec-WebSocket-Accept does not match"))
        elif headers.get(b"sec-websocket-extensions") or headers.get(b"sec-websocket-protocol"):
            self._handshake_failed(ConnectionError("the server chose an extension or a subprotocol"))
        else:
            self._open = True
            waiter = self._handshake
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return data[end + 4 :]
        return None

    def _handshake_failed(self, exc: BaseException) -> None:
        self.broken = True
        waiter = self._handshake
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self._tr is not None:
            self._tr.abort()

    # -- messages --------------------------------------------------------------------------------------------
    def send(self, request: tuple[bytes, str | None], keeps: int = 0) -> None:
        """Write one message; ``request``: its bytes and the correlation value of the reply it waits for."""
        message, self._expected = request
        self.busy = True
        self.bytes_out = len(message)
        # The engine sends only on a session it holds open (not broken), so the transport is not closing.
        self._tr.write(self._hub.frame(message))  # type: ignore[union-attr]  # connected

    def _write(self, frame: bytes) -> None:
        tr = self._tr
        if tr is not None and not tr.is_closing():
            tr.write(frame)

    def data_received(self, data: bytes) -> None:
        if not self._open:
            rest = self._handshake_reply(data)
            if not rest:
                return
            data = rest
        elif self._rest:
            data = self._rest + data
            self._rest = b""
        at, size = 0, len(data)
        while size - at >= 2:
            first, second = data[at], data[at + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if size - at < 4:
                    break
                length, head = int.from_bytes(data[at + 2 : at + 4], "big"), 4
            elif length == 127:
                if size - at < 10:
                    break
                length, head = int.from_bytes(data[at + 2 : at + 10], "big"), 10
            if second & 0x80 or first & 0x70 or length > MAX_MESSAGE:
                # A server never masks; no extension was agreed, so no reserved bit may be set.
                self._protocol_error()
                return
            end = at + head + length
            if end > size:
                break
            payload = data[at + head : end]
            at = end
            opcode = first & 0x0F
            if opcode in (_TEXT, _BINARY):
                if first & 0x80:
                    self._message(payload)
                else:
                    self._fragments = [payload]
            elif opcode == _CONTINUATION:
                self._fragments.append(payload)
                if first & 0x80:
                    whole = b"".join(self._fragments)
                    self._fragments = []
                    self._message(whole)
            elif opcode == _PING:
                self._write(self._hub.frame(payload, _PONG))
            elif opcode == _CLOSE:
                self._peer_closed(payload)
                return
            if self._closing:  # a reply closed the session (churn, the run's end): the rest is not read
                return
        if at < size:
            self._rest = data[at:]
            if len(self._rest) > MAX_MESSAGE + 14:
                self._protocol_error()

    def _message(self, data: bytes) -> None:
        hub = self._hub
        now = _perf_counter()
        document: Any = MISSING
        correlate, timestamp = hub.correlate, hub.timestamp
        if correlate is not None or timestamp is not None:
            try:
                document = orjson.loads(data)
            except orjson.JSONDecodeError:
                document = MISSING
        if self.busy:
            expected = self._expected
            matched = expected is None
            if not matched and correlate is not None and document is not MISSING:
                found = correlate.first(document)
                matched = found is not None and found is not MISSING and _key(found) == expected
            if matched:
                self.busy = False
                self.body = data
                self.bytes_in = len(data)
                self._sent += 1
                churn = hub.block.messages_per_connection
                if churn is not None and self._sent >= churn:
                    self.broken = True  # the engine closes it and opens a new session for the next call
                self._answered()
                return
        if timestamp is not None and document is not MISSING:
            stamp = timestamp.first(document)
            if isinstance(stamp, int | float) and not isinstance(stamp, bool):
                seconds = stamp / 1000.0 if stamp > _MS_ABOVE else float(stamp)
                hub.stats.counts["pushes"] += 1
                lag = time.time() - seconds
                hub.stats.timed("pushLatency", now - lag, lag)
                return
        hub.stats.counts["unmatched"] += 1

    # -- endings ---------------------------------------------------------------------------------------------
    def _peer_closed(self, payload: bytes) -> None:
        """The server's close frame: answer it (RFC 6455 5.5.1) and end the session."""
        if not self._closing:
            self._write(self._hub.frame(payload[:2], _CLOSE))
        self._ended_by_peer()
        if self._tr is not None:
            self._tr.close()

    def _ended_by_peer(self) -> None:
        if not self._ended and not self._closing:
            self._ended = True
            self._hub.stats.counts["closedByPeer"] += 1
            self._broke()
        self.broken = True
        if self.busy:
            self.busy = False
            self._failed(Outcome.RESET)

    def _protocol_error(self) -> None:
        self._broke()
        busy, self.busy = self.busy, False
        self._closing = True
        if self._tr is not None:
            self._tr.abort()
        if busy:
            self._failed(Outcome.PROTOCOL_ERROR)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._open:
            self._handshake_failed(exc or ConnectionResetError("closed during the handshake"))
            return
        self._ended_by_peer()

    def abort(self, outcome: Outcome) -> None:
        """End the call in flight with ``outcome`` (the engine's timeout: its reply is lost) and drop."""
        busy, self.busy = self.busy, False
        if busy:
            self._hub.stats.counts["lost"] += 1
        self._broke()
        self._closing = True
        if self._tr is not None:
            self._tr.abort()
        if busy:
            self._failed(outcome)

    def _broke(self) -> None:
        """The session is unusable: the next one opened in its place is a reconnect."""
        if not self.broken:
            self.broken = True
            self._hub.broken_unreplaced += 1

    def drop(self) -> None:
        """Close the session (nothing is in flight, or what is no longer matters): a close frame, then EOF."""
        self.busy = False
        self.broken = True
        if self._closing:
            return
        self._closing = True
        tr = self._tr
        if tr is not None and not tr.is_closing():
            if self._open:
                tr.write(self._hub.frame(_CLOSE_NORMAL, _CLOSE))
            tr.close()
        waiter = self._handshake
        if waiter is not None and not waiter.done():
            waiter.cancel()


class WebSocketClient(FastWebSocketConnection, FutureAnswers):
    """A session as a ``Client`` (for flows on tasks): each call answered through a future."""

    def __init__(self, hub: WebSocketHub) -> None:
        super().__init__(hub, self._resolve, self._reject)
        self._loop = asyncio.get_running_loop()

    def call(self, call: Call) -> asyncio.Future[Reply]:
        waiter = self._loop.create_future()
        if self._tr is None or self.broken:
            waiter.set_exception(ClientError("reset"))
            return waiter
        try:
            request = self._hub.message(call.params)
        except ClientError as exc:
            waiter.set_exception(exc)
            return waiter
        self._waiter = waiter
        waiter.add_done_callback(self._settled)
        self.send(request)
        return waiter

    def _settled(self, waiter: asyncio.Future[Reply]) -> None:
        if waiter.cancelled() and self.busy:  # the call's task was cancelled (its timeout, or the run cut)
            self.abort(Outcome.TIMEOUT)


async def probe_websocket(block: WebSocketSurface, timeout: float, tls: TlsOptions | None) -> None:
    """Open one session and close it; raises ConnectionError when that fails."""
    hub = WebSocketHub(block, timeout, tls)
    client = WebSocketClient(hub)
    try:
        await client.connect(ClientTarget(hub.url, "ws", "", 0, timeout))
    except ClientError as exc:
        raise ConnectionError(f"{exc.error_class}: the WebSocket handshake with {hub.url} failed") from None
    finally:
        await client.close()
