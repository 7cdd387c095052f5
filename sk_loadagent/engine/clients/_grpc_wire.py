"""gRPC on the wire: one HTTP/2 connection written by hand, carrying one call at a time on callbacks.

``FastGrpcConnection`` is the gRPC twin of ``FastHttpConnection``: ``send`` writes a call (HEADERS from a
block the hub encoded once, then DATA: the 5-byte gRPC prefix and the message), the response is read as
frames arrive, and the owner hears ``answered()`` or ``failed(outcome)``: no task, future or coroutine per
call. h2c with prior knowledge for ``grpc://``, TLS with ALPN ``h2`` for ``grpcs://``.

What it does: client preface and SETTINGS (no dynamic HPACK table for the server's blocks, push off, large
receive windows, topped up with WINDOW_UPDATE before they run low), the peer's send windows and frame size
honoured (a large request waits for WINDOW_UPDATE), PING and SETTINGS acknowledged, CONTINUATION, padding,
PRIORITY and unknown frames, RST_STREAM and GOAWAY classed as grpcio classes them, unary and server-streaming
responses (messages split over frames, several messages in a frame), trailers and trailers-only responses.
``GrpcRequestWire`` turns a step's rendered request into message bytes faster than ``ParseDict`` where that
is exact (a message without references once; a flat message of strings, integers and booleans through the
message class's constructor) and falls back to ``ParseDict`` otherwise, with its errors.

Limits: one stream at a time per connection (the engine keeps a connection per VU, or a pool); no request or
response compression (``grpc-accept-encoding`` is not sent, so a server does not compress; a compressed
message fails the call as grpcInternal); a message over 4 MiB fails it as grpcResourceExhausted (grpcio's
default limit); response messages are not parsed (their bytes are the body); the
deadline is the server's (``grpc-timeout``) beside the engine's own timeout, with no client-side timer.
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from hpack import Decoder, Encoder, NeverIndexedHeaderTuple
from hpack.exceptions import HPACKError

from sk_loadagent.engine._tls import is_tls_failure
from sk_loadagent.engine.clients._callbacks import CallbackConnection
from sk_loadagent.engine.clients.base import ClientError, ClientTarget
from sk_loadagent.engine.result import OUTCOME_NAMES, Outcome

if TYPE_CHECKING:
    from sk_loadagent.engine._flow import CompiledStep, IterationState
    from sk_loadagent.engine.clients._grpc import GrpcHub, Method

_perf_counter = time.perf_counter

# -- HTTP/2 (RFC 9113) ---------------------------------------------------------------------------------------
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _PRIORITY, _RST_STREAM, _SETTINGS, _PUSH_PROMISE, _PING, _GOAWAY, _WINDOW_UPDATE, _CONT = (
    range(10)
)
_END_STREAM = _ACK = 0x1
_END_HEADERS, _PADDED, _PRIORITY_FLAG = 0x4, 0x8, 0x20
_CANCEL = 0x8  # RST_STREAM's error code for a stream this side no longer wants
_FRAME = struct.Struct(">HBBBL")  # length (24 bits as 16 + 8), type, flags, stream id
_U32 = struct.Struct(">L")
_SETTING = struct.Struct(">HL")
_GRPC_PREFIX = struct.Struct(">BL")  # compressed flag, message length
_S_HEADER_TABLE_SIZE, _S_ENABLE_PUSH, _S_INITIAL_WINDOW_SIZE, _S_MAX_FRAME_SIZE = 1, 2, 4, 5
DEFAULT_WINDOW = 65_535
DEFAULT_FRAME = 16_384  # also the largest frame this side accepts (it does not raise SETTINGS_MAX_FRAME_SIZE)
MAX_WINDOW = 2**31 - 1
# What this side lets the server send: 16 MiB per stream, 1 GiB on the connection. Each is topped up once half
# of it was received, so a stream of any length flows and a unary call never waits for a WINDOW_UPDATE.
STREAM_WINDOW = 1 << 24
CONNECTION_WINDOW = 1 << 30
MAX_HEADER_BLOCK = (
    1 << 20
)  # a header block (HEADERS and its CONTINUATIONs) larger than this ends the connection
MAX_STREAM_ID = 2**31 - 1
MAX_MESSAGE = 4 * 1024 * 1024  # grpcio's default limit on a received message: larger is resourceExhausted
HPACK_CACHE = 64  # distinct header blocks decoded once per hub (a server sends two or three kinds)

# RST_STREAM error codes as grpcio classes them (grpc-core's grpc_http2_error_to_grpc_status).
_RST_OUTCOMES = {
    0x7: Outcome.GRPC_UNAVAILABLE,  # REFUSED_STREAM: the server did not start it; another connection may
    0x8: Outcome.GRPC_CANCELLED,  # CANCEL
    0xB: Outcome.GRPC_RESOURCE_EXHAUSTED,  # ENHANCE_YOUR_CALM
    0xC: Outcome.GRPC_PERMISSION_DENIED,  # INADEQUATE_SECURITY
}
# grpc-status values (0 is OK) and, for a response without one, its HTTP status (gRPC's HTTP-to-status table).
_STATUS_OUTCOMES = {str(code): Outcome(Outcome.GRPC_CANCELLED + code - 1) for code in range(1, 17)}
_HTTP_OUTCOMES = {
    "400": Outcome.GRPC_INTERNAL,
    "401": Outcome.GRPC_UNAUTHENTICATED,
    "403": Outcome.GRPC_PERMISSION_DENIED,
    "404": Outcome.GRPC_UNIMPLEMENTED,
    "429": Outcome.GRPC_UNAVAILABLE,
    "502": Outcome.GRPC_UNAVAILABLE,
    "503": Outcome.GRPC_UNAVAILABLE,
    "504": Outcome.GRPC_UNAVAILABLE,
}

Headers = dict[str, str]


def fail(outcome: Outcome) -> ClientError:
    return ClientError(OUTCOME_NAMES[outcome])


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    n = len(payload)
    return _FRAME.pack(n >> 8, n & 0xFF, kind, flags, stream) + payload


def grpc_timeout(seconds: float) -> str:
    """The ``grpc-timeout`` header's value: at most 8 digits and a unit (milliseconds, else seconds)."""
    millis = max(1, math.ceil(seconds * 1000))
    if millis < 10**8:
        return f"{millis}m"
    return f"{min(math.ceil(seconds), 10**8 - 1)}S"


def client_preface() -> bytes:
    """The preface, this side's SETTINGS and the connection window's top-up, written at once."""
    settings = b"".join(
        _SETTING.pack(key, value)
        for key, value in (
            # No dynamic table for the server's blocks: a block then decodes the same from its bytes alone.
            (_S_HEADER_TABLE_SIZE, 0),
            (_S_ENABLE_PUSH, 0),
            (_S_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
        )
    )
    top_up = _U32.pack(CONNECTION_WINDOW - DEFAULT_WINDOW)
    return PREFACE + frame(_SETTINGS, 0, 0, settings) + frame(_WINDOW_UPDATE, 0, 0, top_up)


def header_block(headers: list[tuple[str, str]]) -> bytes:
    """An HPACK block that refers to no dynamic table: the same bytes are valid on every stream.

    Each field is the static table's entry when it matches exactly, else a never-indexed literal (with the
    static table's name when there is one), so sending the block changes no state on either side.
    """
    return Encoder().encode([NeverIndexedHeaderTuple(name, value) for name, value in headers], huffman=True)


def headers_frames(block: bytes) -> bytes:
    """HEADERS (and CONTINUATIONs) carrying ``block`` on stream 0, for ``send`` to patch the stream id into.

    Frames of 16 KiB: no peer allows less, so the split holds whatever the server's SETTINGS say.
    """
    pieces = [block[at : at + DEFAULT_FRAME] for at in range(0, len(block), DEFAULT_FRAME)] or [b""]
    out = []
    for k, piece in enumerate(pieces):
        last = _END_HEADERS if k == len(pieces) - 1 else 0
        out.append(frame(_HEADERS if k == 0 else _CONT, last, 0, piece))
    return b"".join(out)


def _fields_of(decoder: Decoder, block: bytes) -> Headers:
    return dict(cast(list[tuple[str, str]], decoder.decode(block)))


class HeaderCache:
    """Decoded header blocks by their bytes, for blocks whose decoding depends on nothing else.

    A block decoded from an empty dynamic table that leaves it empty (the server honours
    SETTINGS_HEADER_TABLE_SIZE=0, or indexes nothing) decodes the same on any connection whose table is
    empty: it is kept, and such a connection reuses it without decoding. At most ``HPACK_CACHE`` blocks are
    kept; others are decoded each time.
    """

    def __init__(self, size: int = HPACK_CACHE) -> None:
        self.size = size
        self.blocks: dict[bytes, Headers] = {}

    def decode(self, decoder: Decoder, block: bytes) -> Headers:
        """The block's fields as a dict (lower-case names; a repeated name keeps its last value)."""
        table = decoder.header_table
        if not table.dynamic_entries:
            found = self.blocks.get(block)
            if found is not None:
                return found
            headers = _fields_of(decoder, block)
            if not table.dynamic_entries and len(self.blocks) < self.size:
                self.blocks[block] = headers
            return headers
        return _fields_of(decoder, block)


class FastGrpcConnection(CallbackConnection):
    """One HTTP/2 connection (h2c or TLS) carrying one gRPC call at a time, on callbacks.

    ``send`` writes a call's request message; a unary response's message ends up in ``body`` (``status`` is
    None and ``headers`` empty, as a gRPC reply has neither), a server stream's messages are counted into the
    hub's ``streamMessages`` and ``messageGap``; then ``answered()`` is called, or ``failed(outcome)`` when
    the call ends with a status other than OK or without a response.
    """

    def __init__(self, hub: GrpcHub, answered: Callable[[], None], failed: Callable[[Outcome], None]) -> None:
        super().__init__(answered, failed)
        self._hub = hub
        self._streaming = hub.method.server_streaming
        self._handshaking = False
        self._decoder = Decoder()
        self._cache = hub.header_cache
        self._buf = b""
        self._block: list[bytes] | None = None  # a header block awaiting its CONTINUATIONs
        self._block_flags = 0
        self._block_size = 0
        self._stream_of_block = 0
        self._ready: asyncio.Future[None] | None = None  # the probe's wait for the server's SETTINGS
        self.settled = False  # the server's first SETTINGS arrived
        # Sending: the peer's windows and frame size, and what of the request still waits for window.
        self._send_window = DEFAULT_WINDOW
        self._stream_send_window = DEFAULT_WINDOW
        self._peer_initial = DEFAULT_WINDOW
        self._peer_frame = DEFAULT_FRAME
        self._out: bytes | None = None
        self._out_at = 0
        # Receiving: bytes taken since the last WINDOW_UPDATE.
        self._taken = 0
        self._stream_taken = 0
        # The call in flight.
        self._stream = 0
        self._next_stream = 1
        self._got_headers = False
        self._http_status: str | None = None
        # The start of a message whose end has not arrived: its pieces, their length, the length it needs
        # (prefix included; 0 while the prefix itself is incomplete).
        self._partial: list[bytes] = []
        self._partial_len = 0
        self._need = 0
        self._messages = 0
        self._began = 0.0
        self._last = 0.0

    # -- connecting ------------------------------------------------------------------------------------------
    async def connect(self, target: ClientTarget) -> None:
        """TCP (and TLS) to the hub's endpoint, then the preface and SETTINGS: the connection can send.
        Raises ClientError: ``grpcUnavailable`` when TCP fails (as grpcio), ``tls`` when the handshake does,
        ``protocolError`` when the TLS server does not offer h2.

        The server's SETTINGS are not waited for (its first ones come with or before its first answer, and
        until then the protocol's defaults hold, which ``send`` honours). ``target`` is the service's; a gRPC
        block names its own endpoint.
        """
        hub = self._hub
        loop = asyncio.get_running_loop()
        try:
            if hub.ssl is None:
                await loop.create_connection(lambda: self, hub.host, hub.port)
            else:
                tcp, _ = await loop.create_connection(asyncio.Protocol, hub.host, hub.port)
                self._handshaking = True
                tls = await loop.start_tls(
                    tcp, self, hub.ssl, server_hostname=hub.server_name, ssl_handshake_timeout=hub.timeout
                )
                self._handshaking = False
                if tls is None:
                    raise ConnectionResetError("connection closed during the TLS handshake")
                ssl_object = tls.get_extra_info("ssl_object")
                if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
                    tls.abort()
                    self.broken = True
                    raise fail(Outcome.PROTOCOL_ERROR)  # grpc-core refuses a TLS peer that does not say h2
                self.connection_made(tls)
        except (asyncio.CancelledError, ClientError):
            raise
        except BaseException as exc:
            self.broken = True
            if self._handshaking or is_tls_failure(exc):
                raise fail(Outcome.TLS) from None
            # Refused, unreachable, reset: grpcio's class for a call whose connection cannot be made, kept
            # so that a run's error classes stay the ones the grpcio client reported.
            raise fail(Outcome.GRPC_UNAVAILABLE) from None

    async def handshake(self, target: ClientTarget) -> None:
        """``connect``, then wait for the server's SETTINGS (what grpcio's ``channel_ready`` waits for): the
        probe's check that a gRPC server, not just a socket, answers. The caller bounds the wait."""
        await self.connect(target)
        if not self.settled:
            self._ready = asyncio.get_running_loop().create_future()
            await self._ready

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._tr = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self._tr.write(client_preface())
        if self._hub.ssl is not None:
            self._hub.ssl.handshake_done(transport.get_extra_info("ssl_object"))

    # -- calls -----------------------------------------------------------------------------------------------
    def send(self, request: bytes, keeps: int = 0) -> None:
        """Write one call whose request message is ``request`` (``keeps`` is FastHttpConnection's: a gRPC
        reply has no status or headers to keep, and its body is its message)."""
        self.busy = True
        stream = self._stream = self._next_stream
        self._next_stream = stream + 2
        if self._next_stream > MAX_STREAM_ID:
            self.broken = True  # no stream id left: the engine opens a new connection after this call
        self._got_headers = False
        self._http_status = None
        if self._partial_len:
            self._partial.clear()
            self._partial_len = self._need = 0
        self._messages = 0
        self._stream_taken = 0
        self.body = b""
        n = len(request)
        self.bytes_in = 0
        self.bytes_out = n
        self._began = self._last = _perf_counter()  # a stream's start; a reset's deadline is counted from it
        head = self._hub.headers_frames
        head = (
            head[:5] + _U32.pack(stream) + head[9:] if len(head) <= DEFAULT_FRAME + 9 else self._head(stream)
        )
        size = n + 5
        window = self._peer_initial
        if size <= self._send_window and size <= window and size <= self._peer_frame:
            # The usual call: HEADERS and one DATA frame in one write.
            self._send_window -= size
            self._stream_send_window = window - size
            self._tr.write(  # type: ignore[union-attr]  # connect() first
                b"".join(
                    (
                        head,
                        _FRAME.pack(size >> 8, size & 0xFF, _DATA, _END_STREAM, stream),
                        _GRPC_PREFIX.pack(0, n),
                        request,
                    )
                )
            )
            return
        self._stream_send_window = window
        self._out = _GRPC_PREFIX.pack(0, n) + request
        self._out_at = 0
        self._tr.write(head)  # type: ignore[union-attr]
        self._flush()

    def _head(self, stream: int) -> bytes:
        """HEADERS and CONTINUATIONs of a block over 16 KiB, each frame given the stream's id."""
        frames = self._hub.headers_frames
        out: list[bytes] = []
        at = 0
        while at < len(frames):  # bounded: each frame moves ``at`` on by its 9 bytes and its payload
            hi, lo, *_ = _FRAME.unpack_from(frames, at)
            end = at + 9 + (hi << 8 | lo)
            out += (frames[at : at + 5], _U32.pack(stream), frames[at + 9 : end])
            at = end
        return b"".join(out)

    def _flush(self) -> None:
        """Send what the windows allow of the request waiting in ``_out``, END_STREAM on its last frame."""
        out = self._out
        tr = self._tr
        if out is None or tr is None:
            return
        at = self._out_at
        total = len(out)
        while at < total:  # bounded: each round sends at least one byte, or returns
            room = min(self._send_window, self._stream_send_window, self._peer_frame, total - at)
            if room <= 0:
                break
            end = at + room
            tr.write(frame(_DATA, _END_STREAM if end == total else 0, self._stream, out[at:end]))
            self._send_window -= room
            self._stream_send_window -= room
            at = end
        if at >= total:
            self._out = None
        else:
            self._out_at = at

    # -- frames ----------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        n = len(buf)
        at = 0
        unpack = _FRAME.unpack_from
        while n - at >= 9:  # bounded: each frame moves ``at`` on by at least its 9 bytes
            hi, lo, kind, flags, stream = unpack(buf, at)
            length = hi << 8 | lo
            end = at + 9 + length
            if end > n:
                break
            if length > DEFAULT_FRAME:
                self._protocol_error()
                return
            payload = buf[at + 9 : end]
            at = end
            stream &= MAX_STREAM_ID
            if kind == _DATA:
                self._on_data(stream, flags, payload, length)
            elif kind == _HEADERS:
                self._on_headers(stream, flags, payload)
            elif kind == _CONT:
                self._on_continuation(stream, flags, payload)
            elif self._block is not None:
                self._protocol_error()  # only CONTINUATIONs may follow a block that is not ended
            elif kind == _SETTINGS:
                self._on_settings(flags, payload)
            elif kind == _WINDOW_UPDATE:
                self._on_window_update(stream, payload)
            elif kind == _PING:
                if not flags & _ACK and len(payload) == 8:
                    self._tr.write(frame(_PING, _ACK, 0, payload))  # type: ignore[union-attr]
            elif kind == _RST_STREAM:
                self._on_reset(stream, payload)
            elif kind == _GOAWAY:
                self._on_goaway(payload)
            elif kind == _PUSH_PROMISE:
                self._protocol_error()  # push was turned off in this side's SETTINGS
            # PRIORITY and frame types this side does not know are ignored, as RFC 9113 asks.
            if self._tr is None or self._tr.is_closing():
                self._buf = b""
                return
        self._buf = buf[at:] if at < n else b""

    def _on_data(self, stream: int, flags: int, payload: bytes, length: int) -> None:
        # Flow control counts the whole frame, padding too.
        taken = self._taken + length
        if taken >= CONNECTION_WINDOW // 2:
            self._tr.write(frame(_WINDOW_UPDATE, 0, 0, _U32.pack(taken)))  # type: ignore[union-attr]
            taken = 0
        self._taken = taken
        if stream != self._stream or not self.busy:
            return  # a stream that already ended (its window is the connection's only)
        if flags & _PADDED:
            if not payload or payload[0] >= len(payload):
                self._protocol_error()
                return
            payload = payload[1 : len(payload) - payload[0]]
        stream_taken = self._stream_taken + length
        if stream_taken >= STREAM_WINDOW // 2 and not flags & _END_STREAM:
            self._tr.write(frame(_WINDOW_UPDATE, 0, stream, _U32.pack(stream_taken)))  # type: ignore[union-attr]
            stream_taken = 0
        self._stream_taken = stream_taken
        if payload:
            self._take(payload)
        if flags & _END_STREAM and self.busy:
            self._end({})  # the stream ended without trailers

    def _take(self, payload: bytes) -> None:
        """The gRPC messages in a DATA payload (with the start of one left over from the last)."""
        if self._partial_len:
            # A message over several frames: its pieces are joined once it is whole, not frame by frame.
            parts = self._partial
            parts.append(payload)
            have = self._partial_len = self._partial_len + len(payload)
            need = self._need
            if not need and have >= 5:
                joined = b"".join(parts)
                parts[:] = [joined]
                need = self._need = 5 + _GRPC_PREFIX.unpack_from(joined)[1]
                if need > MAX_MESSAGE + 5:
                    self._refuse(Outcome.GRPC_RESOURCE_EXHAUSTED)
                    return
            if not need or have < need:
                return
            payload = b"".join(parts)
            parts.clear()
            self._partial_len = self._need = 0
        n = len(payload)
        if n >= 5 and not self._streaming and not self._messages:
            compressed, size = _GRPC_PREFIX.unpack_from(payload)
            if size + 5 == n and not compressed:  # the usual unary response: one message, one frame
                self.body = payload[5:]
                self.bytes_in = size
                self._messages = 1
                return
        at = 0
        while n - at >= 5:  # bounded: each message moves ``at`` on by at least its 5-byte prefix
            compressed, size = _GRPC_PREFIX.unpack_from(payload, at)
            if size > MAX_MESSAGE:
                self._refuse(Outcome.GRPC_RESOURCE_EXHAUSTED)
                return
            if compressed:
                self._refuse(Outcome.GRPC_INTERNAL)  # no compression was offered
                return
            end = at + 5 + size
            if end > n:
                break
            self._message(payload[at + 5 : end])
            at = end
        if at < n:
            rest = n - at
            self._partial.append(payload[at:])
            self._partial_len = rest
            self._need = 5 + _GRPC_PREFIX.unpack_from(payload, at)[1] if rest >= 5 else 0

    def _refuse(self, outcome: Outcome) -> None:
        """A message this side does not take: the call fails and the server is told to stop its stream."""
        self._tr.write(frame(_RST_STREAM, 0, self._stream, _U32.pack(_CANCEL)))  # type: ignore[union-attr]
        self._fail_call(outcome)

    def _message(self, message: bytes) -> None:
        self._messages += 1
        self.bytes_in += len(message)
        if not self._streaming:
            if self._messages == 1:
                self.body = message
            return
        now = _perf_counter()
        if self._messages > 1:
            self._hub.stats.timed("messageGap", self._last, now - self._last)
        self._last = now

    def _on_headers(self, stream: int, flags: int, payload: bytes) -> None:
        if flags & _PADDED:
            if not payload or payload[0] >= len(payload):
                self._protocol_error()
                return
            payload = payload[1 : len(payload) - payload[0]]
        if flags & _PRIORITY_FLAG:
            payload = payload[5:]
        if flags & _END_HEADERS:
            self._on_block(stream, flags, payload)
        else:
            self._stream_of_block = stream
            self._block = [payload]
            self._block_flags = flags
            self._block_size = len(payload)

    def _on_continuation(self, stream: int, flags: int, payload: bytes) -> None:
        block = self._block
        if block is None or stream != self._stream_of_block:
            self._protocol_error()
            return
        block.append(payload)
        self._block_size += len(payload)
        if self._block_size > MAX_HEADER_BLOCK:
            self._protocol_error()
            return
        if flags & _END_HEADERS:
            self._block = None
            self._on_block(stream, self._block_flags, b"".join(block))

    def _on_block(self, stream: int, flags: int, block: bytes) -> None:
        try:
            # Decoded even for a stream that ended: the decoder's state must follow every block.
            headers = self._cache.decode(self._decoder, block)
        except HPACKError:
            self._protocol_error()
            return
        if stream != self._stream or not self.busy:
            return
        if not self._got_headers:
            self._got_headers = True
            self._http_status = headers.get(":status")
        if flags & _END_STREAM:
            self._end(headers)  # trailers, or a trailers-only response

    def _end(self, trailers: Headers) -> None:
        """The stream's end: its status decides between ``answered`` and ``failed``."""
        if self._out is not None:
            # The server answered before the whole request went out: the rest is not sent.
            self._out = None
            self._tr.write(frame(_RST_STREAM, 0, self._stream, _U32.pack(0)))  # type: ignore[union-attr]
        code = trailers.get("grpc-status")
        if code == "0":
            if not self._streaming and self._messages == 0:
                self._fail_call(Outcome.GRPC_INTERNAL)  # OK without the one message a unary call returns
                return
            if self._partial_len:
                self._fail_call(Outcome.GRPC_INTERNAL)  # a message cut short by the stream's end
                return
            self.busy = False
            if self._streaming:
                self._hub.stats.timed("streamMessages", self._began, float(self._messages))
            if self.broken:
                self._close()
            self._answered()
            return
        if code is None:
            status = self._http_status
            outcome = _HTTP_OUTCOMES.get(status or "", Outcome.GRPC_UNKNOWN)
        else:
            outcome = _STATUS_OUTCOMES.get(code, Outcome.GRPC_UNKNOWN)
        self._fail_call(outcome)

    def _fail_call(self, outcome: Outcome) -> None:
        """End the call in flight with ``outcome``; the connection stays usable unless it is broken."""
        if not self.busy:
            return
        self.busy = False
        self._out = None
        self._partial.clear()
        self._partial_len = self._need = 0
        if self._streaming:
            self._hub.stats.timed("streamMessages", self._began, float(self._messages))
        if self.broken:
            self._close()
        self._failed(outcome)

    def _on_settings(self, flags: int, payload: bytes) -> None:
        if flags & _ACK:
            return
        if len(payload) % 6:
            self._protocol_error()
            return
        for at in range(0, len(payload), 6):
            key, value = _SETTING.unpack_from(payload, at)
            if key == _S_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    self._protocol_error()
                    return
                # A change applies to open streams too (RFC 9113 6.9.2).
                self._stream_send_window += value - self._peer_initial
                self._peer_initial = value
            elif key == _S_MAX_FRAME_SIZE:
                if not DEFAULT_FRAME <= value <= 2**24 - 1:
                    self._protocol_error()
                    return
                self._peer_frame = value
        self._tr.write(frame(_SETTINGS, _ACK, 0, b""))  # type: ignore[union-attr]
        self.settled = True
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)
        if self._out is not None:
            self._flush()

    def _on_window_update(self, stream: int, payload: bytes) -> None:
        if len(payload) != 4:
            self._protocol_error()
            return
        increment = _U32.unpack(payload)[0] & MAX_WINDOW
        if stream == 0:
            self._send_window = min(self._send_window + increment, MAX_WINDOW)
        elif stream == self._stream:
            self._stream_send_window = min(self._stream_send_window + increment, MAX_WINDOW)
        if self._out is not None:
            self._flush()

    def _on_reset(self, stream: int, payload: bytes) -> None:
        if stream == self._stream and self.busy and len(payload) == 4:
            self._out = None  # the stream is closed: nothing more of it is sent
            code = _U32.unpack(payload)[0]
            if code == _CANCEL and _perf_counter() - self._began >= self._hub.timeout:
                self._fail_call(Outcome.GRPC_DEADLINE_EXCEEDED)  # grpc-core: a cancel past the deadline
                return
            self._fail_call(_RST_OUTCOMES.get(code, Outcome.GRPC_INTERNAL))

    def _on_goaway(self, payload: bytes) -> None:
        """The server stops taking streams: a call it did not take fails as unavailable (grpcio's class),
        one it took may still complete; the connection is not used again."""
        if len(payload) < 8:
            self._protocol_error()
            return
        last = _U32.unpack_from(payload)[0] & MAX_STREAM_ID
        self.broken = True
        if not self.busy:
            self._close()
        elif self._stream > last:
            self._fail_call(Outcome.GRPC_UNAVAILABLE)

    def _protocol_error(self) -> None:
        """A frame this side cannot accept: the connection ends, and the call in flight with grpcInternal."""
        self.broken = True
        tr = self._tr
        if tr is not None:
            tr.abort()
        self._fail_call(Outcome.GRPC_INTERNAL)

    # -- endings ---------------------------------------------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_exception(ConnectionResetError("connection closed before the server's SETTINGS"))
        # EOF or reset before the call ended: grpcio's class for a transport lost under a call.
        self._fail_call(Outcome.GRPC_UNAVAILABLE)

    def eof_received(self) -> bool | None:
        return None  # close: a half-closed HTTP/2 connection carries nothing more

    def abort(self, outcome: Outcome) -> None:
        """End the call in flight with ``outcome`` (the engine's timeout) and drop the connection."""
        self.broken = True
        if self._tr is not None:
            self._tr.abort()
        self._fail_call(outcome)

    def _close(self) -> None:
        self.broken = True
        if self._tr is not None:
            self._tr.close()

    def drop(self) -> None:
        """Close the connection (nothing is in flight, or what is no longer matters)."""
        if self.busy and self._streaming:
            self._hub.stats.timed("streamMessages", self._began, float(self._messages))
        self.busy = False
        self._close()


# -- request messages ----------------------------------------------------------------------------------------
def request_message(method: Method, document: dict[str, Any]) -> Any:
    """The request message of ``document`` (the rendered YAML); raises ValueError naming the problem."""
    from google.protobuf import json_format  # type: ignore[import-untyped]

    try:
        return json_format.ParseDict(document, method.request())
    except json_format.ParseError as exc:
        raise ValueError(str(exc)) from None


_INT_RANGES = {
    # FieldDescriptor types: int32 sint32 sfixed32; uint32 fixed32; int64 sint64 sfixed64; uint64 fixed64.
    **dict.fromkeys((5, 17, 15), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((13, 7), (0, 2**32 - 1)),
    **dict.fromkeys((3, 18, 16), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((4, 6), (0, 2**64 - 1)),
}
_TYPE_DOUBLE, _TYPE_BOOL, _TYPE_STRING = 1, 8, 9
_LABEL_REPEATED = 3


def _flat_fields(descriptor: Any) -> dict[str, tuple[str, int]]:
    """The fields a document may set through the constructor: JSON name and proto name -> (name, type).

    Only singular strings, integers, booleans and doubles outside a oneof: ParseDict takes each of them as
    the constructor does when the value has the plain type (checked per value). Anything else goes through
    ParseDict (messages, repeated fields, maps, enums, bytes, floats, oneofs).
    """
    fields: dict[str, tuple[str, int]] = {}
    for field in descriptor.fields:
        kind = field.type
        if field.label == _LABEL_REPEATED or field.containing_oneof is not None:
            continue
        if kind in _INT_RANGES or kind in (_TYPE_DOUBLE, _TYPE_BOOL, _TYPE_STRING):
            fields[field.json_name] = fields[field.name] = (field.name, kind)
    return fields


def _reference_free(value: Any) -> bool:
    """No text of ``value`` holds a ``$`` (a reference, or ``$$`` that renders as ``$``)."""
    if isinstance(value, str):
        return "$" not in value
    if isinstance(value, dict):
        return all(_reference_free(v) for v in value.values())
    if isinstance(value, list):
        return all(_reference_free(v) for v in value)
    return True


class GrpcRequestWire:
    """A call's request message as bytes, from the document its step renders.

    ``encode(document)``: the request as written, when it has no references, is serialized once; a flat
    one (strings, integers, booleans, doubles) goes through the message class's constructor, which
    serializes to the same bytes as ParseDict; anything else, or a value of another type than its field's,
    goes through ParseDict, whose errors (ValueError naming the problem) are the ones the build step showed.
    """

    __slots__ = ("_cls", "_document", "_fields", "_method", "static")

    def __init__(self, method: Method, request: dict[str, Any] | None = None) -> None:
        self._method = method
        self._cls = method.request
        self._fields = _flat_fields(method.request.DESCRIPTOR)
        self.static: bytes | None = None
        self._document = request
        if request is not None and _reference_free(request):
            try:
                self.static = request_message(method, request).SerializeToString()
            except ValueError:
                self.static = None  # each call reports it (the build step refused it already)

    def encode(self, document: dict[str, Any]) -> bytes:
        static = self.static
        if static is not None and document == self._document:  # the request as written: no references
            return static
        fields = self._fields
        kwargs: dict[str, Any] = {}
        for key, value in document.items():
            found = fields.get(key)
            if found is None:
                return self._parsed(document)
            name, kind = found
            of = type(value)
            if kind == _TYPE_STRING:
                if of is not str or not value.isascii():  # non-ASCII: ParseDict checks for lone surrogates
                    return self._parsed(document)
            elif kind == _TYPE_BOOL:
                if of is not bool:
                    return self._parsed(document)
            elif kind == _TYPE_DOUBLE:
                if of is not float or not math.isfinite(value):
                    return self._parsed(document)
            else:
                low, high = _INT_RANGES[kind]
                if of is not int or not low <= value <= high:
                    return self._parsed(document)
            kwargs[name] = value
        if len(kwargs) != len(document):  # a field given by both its names: ParseDict's error
            return self._parsed(document)
        return cast(bytes, self._cls(**kwargs).SerializeToString())

    def _parsed(self, document: dict[str, Any]) -> bytes:
        return cast(bytes, request_message(self._method, document).SerializeToString())


_VARIES = object()  # a part of a step's params that renders differently per iteration


def _fixed(value: Any, template: type) -> Any:
    """``value`` (a step's params: Templates in dicts and lists) as it always renders, or ``_VARIES``."""
    if isinstance(value, template):
        static = value.static  # type: ignore[attr-defined]
        return _VARIES if static is None else static
    if isinstance(value, dict):
        items = {k: _fixed(v, template) for k, v in value.items()}
        return _VARIES if any(v is _VARIES for v in items.values()) else items
    if isinstance(value, list):
        parts = [_fixed(v, template) for v in value]
        return _VARIES if any(v is _VARIES for v in parts) else parts
    return value


class StepRequestWire:
    """A flow step's request bytes per iteration, the callback flow driver's wire for a gRPC step:
    ``render(it)`` raises MissingValue or BadValue as ``CompiledStep.call`` does, and ClientError
    ``request`` for a message that does not fit (as ``GrpcClient.call`` does on the task path). A step whose
    request has no references renders to the same bytes, built once."""

    __slots__ = ("_step", "_wire", "static")
    keeps = 0  # the driver's wire interface: a gRPC reply keeps its message only
    traced = False

    def __init__(self, wire: GrpcRequestWire, step: CompiledStep) -> None:
        from sk_loadagent.engine._flow import Template  # the engine's templates (imported late: no cycle)

        self._wire = wire
        self._step = step
        self.static: bytes | None = None
        fixed = _fixed(step.params, Template)
        if fixed is not _VARIES:
            try:
                self.static = wire.encode(fixed)
            except ValueError:
                self.static = None  # each call reports it (the build step refused it already)

    def render(self, it: IterationState, traceparent: str | None = None) -> bytes:
        static = self.static
        if static is not None:
            return static
        try:
            return self._wire.encode(self._step.rendered_params(it))
        except ValueError as exc:
            raise ClientError("request", str(exc)) from None


__all__ = [
    "FastGrpcConnection",
    "GrpcRequestWire",
    "HeaderCache",
    "StepRequestWire",
    "grpc_timeout",
    "header_block",
    "request_message",
]
