"""WebSocket sessions (``websockets``): a connection per client, a message per call, replies by correlation.

Each client is one session: the engine keeps one per VU on the closed model and a pool of them on the open
one. A call sends the block's ``send`` message and returns when the reply whose ``correlate`` value (a
JSONPath read in both) equals the sent one arrives; without ``correlate`` the next message is the reply.
The engine times the call from the moment it was due, so its latency is the round trip from the intended
send. Beside it, the hub keeps:

- ``connectTime``: the TCP, TLS and opening handshake of each session;
- ``connects``, ``reconnects`` (sessions opened to replace one that broke), ``closedByPeer``,
  ``connectFailures``, ``lost`` (calls without their reply: timed out, or cut at the end);
- ``pushLatency``: a pushed message's publish-side timestamp (``subscribe.timestamp``) to its receipt, and
  ``pushes``; other messages that answer no call are ``unmatched``.

``messagesPerConnection`` makes churn: a session closes after that many messages and the engine opens a
new one for the next call.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

import orjson

from sk_loadagent.engine._tls import client_context
from sk_loadagent.engine.clients._broker import SurfaceStats, message_bytes
from sk_loadagent.engine.clients._stopping import finish_within, stop_task
from sk_loadagent.engine.clients.base import Call, Client, ClientError, ClientTarget, Reply
from sk_loadagent.engine.result import Outcome
from sk_loadagent.extras import require
from sk_loadagent.measurements import SurfaceMeasurements
from sk_loadagent.models.jsonpath import MISSING, JsonPath, compile_json_path
from sk_loadagent.models.plan import TlsOptions
from sk_loadagent.models.surfaces import WebSocketSurface

_perf_counter = time.perf_counter
_MS_ABOVE = 1e11  # a timestamp above this is in milliseconds (1e11 s is the year 5138)


def _key(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


class WebSocketHub:
    """What the sessions of one worker share: the block, the TLS context, the measurements."""

    kind = "websocket"

    def __init__(self, block: WebSocketSurface, timeout: float, tls: TlsOptions | None) -> None:
        self._connect: Any = require("websockets.asyncio.client", "surfaces", "surface: websocket").connect
        assert block.url is not None, "resolve the block's URL first"
        self.block = block
        self.url = block.url
        self.timeout = timeout
        self.stats = SurfaceStats(self.kind)
        self.notes = self.stats.notes
        self.ssl: ssl.SSLContext | None = None
        if self.url.startswith("wss://"):
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

    async def start_or_note(self) -> None:
        """Nothing shared to open: each session connects on its own."""

    async def aclose(self) -> None:
        """Nothing shared to close: the engine closes each session."""

    def new(self) -> Client:
        return WebSocketClient(self)

    def measurements(self, target: str) -> SurfaceMeasurements:
        return self.stats.measurements(target)


class WebSocketClient(Client):
    """One WebSocket session carrying one call at a time."""

    def __init__(self, hub: WebSocketHub) -> None:
        self._hub = hub
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: tuple[str | None, asyncio.Future[Reply]] | None = None
        self._sent = 0
        self._closing = False
        self.broken = False

    async def connect(self, target: ClientTarget) -> None:
        hub = self._hub
        stats = hub.stats
        began = _perf_counter()
        try:
            self._ws = await hub._connect(
                hub.url,
                additional_headers=hub.block.headers or None,
                ssl=hub.ssl,
                open_timeout=hub.timeout,
                close_timeout=1.0,
                ping_interval=None,
                max_queue=None,
                proxy=None,
                compression=None,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stats.counts["connectFailures"] += 1
            self.broken = True
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
        self._reader = asyncio.get_running_loop().create_task(self._read())
        if hub.hello is not None:
            await self._ws.send(hub.hello, text=True)

    async def _read(self) -> None:
        hub = self._hub
        try:
            async for message in self._ws:
                self._received(message if isinstance(message, bytes) else message.encode())
        except asyncio.CancelledError:
            raise
        except Exception:  # the connection failed: the close below tells the waiting call
            pass
        if not self._closing:
            hub.stats.counts["closedByPeer"] += 1
            self._broke()
        waiting, self._waiting = self._waiting, None
        if waiting is not None and not waiting[1].done():
            waiting[1].set_exception(ClientError("reset"))

    def _received(self, data: bytes) -> None:
        hub = self._hub
        now = _perf_counter()
        document: Any = MISSING
        if hub.correlate is not None or hub.timestamp is not None:
            try:
                document = orjson.loads(data)
            except orjson.JSONDecodeError:
                document = MISSING
        waiting = self._waiting
        if waiting is not None:
            expected, future = waiting
            found = (
                hub.correlate.first(document)
                if hub.correlate is not None and document is not MISSING
                else None
            )
            if expected is None or (found is not None and found is not MISSING and _key(found) == expected):
                self._waiting = None
                if not future.done():
                    future.set_result(Reply(status=None, body=data, bytes_in=len(data), received=now))
                return
        if hub.timestamp is not None and document is not MISSING:
            stamp = hub.timestamp.first(document)
            if isinstance(stamp, int | float) and not isinstance(stamp, bool):
                seconds = stamp / 1000.0 if stamp > _MS_ABOVE else float(stamp)
                hub.stats.counts["pushes"] += 1
                lag = time.time() - seconds
                hub.stats.timed("pushLatency", now - lag, lag)
                return
        hub.stats.counts["unmatched"] += 1

    async def call(self, call: Call) -> Reply:
        hub = self._hub
        if self._ws is None or self.broken:
            raise ClientError("reset")
        body = message_bytes(call.params)
        expected: str | None = None
        if hub.correlate is not None:
            sent_document = call.params.get("json")
            value = hub.correlate.first(sent_document) if sent_document is not None else MISSING
            if value is MISSING:
                raise ClientError("correlation", f"the sent message has no {hub.block.correlate}")
            expected = _key(value)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting = (expected, future)
        try:
            await self._ws.send(body, text=True)
            reply = await future
        except asyncio.CancelledError:
            hub.stats.counts["lost"] += 1
            self._broke()
            raise
        except ClientError:
            raise
        except Exception:
            self._broke()
            raise ClientError("reset") from None
        finally:
            self._waiting = None
        reply.bytes_out = len(body)
        self._sent += 1
        churn = hub.block.messages_per_connection
        if churn is not None and self._sent >= churn:
            self.broken = True  # the engine closes it and opens a new session for the next call
        return reply

    def abort(self, outcome: Outcome) -> None:
        """The engine's timeout: the reply did not come (the call's task is cancelled next)."""
        self._broke()

    def _broke(self) -> None:
        if not self.broken:
            self.broken = True
            self._hub.broken_unreplaced += 1

    async def close(self) -> None:
        self._closing = True
        self.broken = True
        if self._ws is not None:
            await finish_within(self._ws.close(), timeout=1.0)
        await stop_task(self._reader)


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
