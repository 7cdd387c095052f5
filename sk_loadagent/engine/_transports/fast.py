"""The fast path: HTTP/1.1 keep-alive on asyncio Protocol callbacks with httptools parsing.

No coroutine or object per request: a request is a ``transport.write`` of prebuilt bytes, a response is parsed
by httptools in C, and ``on_message_complete`` appends six numbers to the recorder's buffers. With the stdlib
event loop, ``BufferedProtocol`` reads into one reused buffer (``Protocol`` would allocate per read).

For ``https://`` the event loop's own TLS layer sits under the same protocol: a connection opens TCP, then
``loop.start_tls`` runs the handshake (ALPN http/1.1, the last session offered for resumption), so a failed
handshake is told apart from a failed connect. Requests and responses take exactly the plain path.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import httptools

from sk_loadagent.engine._tls import HANDSHAKE_TIMEOUT, ResumingContext, client_context, is_tls_failure
from sk_loadagent.engine._trace import sampled_ids, sampled_value, split_request
from sk_loadagent.engine._transports.base import Binding, Connection, Owner, Transport
from sk_loadagent.engine.result import Outcome

_perf_counter = time.perf_counter
_NAN = float("nan")
_READ_BUFFER = 256 * 1024


class _FastConnection(Connection, asyncio.Protocol):
    __slots__ = (
        "_a_code",
        "_a_end",
        "_a_nbytes",
        "_a_sent",
        "_a_start",
        "_a_variant",
        "_fast",
        "_handshaking",
        "_requests",
        "_task",
        "_tr",
        "parser",
    )

    def __init__(self, fast: FastTransport, owner: Owner) -> None:
        super().__init__(owner, _perf_counter())
        self._fast = fast
        self._requests = fast.requests
        recorder = fast.binding.recorder
        self._a_start = recorder.start.append
        self._a_sent = recorder.sent.append
        self._a_end = recorder.end.append
        self._a_code = recorder.code.append
        self._a_nbytes = recorder.nbytes.append
        self._a_variant = recorder.variant.append
        self.parser = httptools.HttpResponseParser(self)
        self._tr: asyncio.Transport | None = None
        self._task: asyncio.Task[Any] | None = None
        self._handshaking = False

    # -- connecting ------------------------------------------------------------------------------------------
    def start_connect(self) -> None:
        binding = self._fast.binding
        tls = self._fast.tls
        if tls is None:
            coro = binding.loop.create_connection(lambda: self, binding.target.host, binding.target.port)
            self._task = binding.loop.create_task(coro)
        else:
            self._task = binding.loop.create_task(self._open_tls(tls))
        self._task.add_done_callback(self._connect_done)

    async def _open_tls(self, context: ResumingContext) -> None:
        fast = self._fast
        binding = fast.binding
        tcp, _ = await binding.loop.create_connection(
            asyncio.Protocol, binding.target.host, binding.target.port
        )
        self._handshaking = True
        tls = await binding.loop.start_tls(
            tcp, self, context, server_hostname=fast.server_name, ssl_handshake_timeout=binding.timeout
        )
        self._handshaking = False
        if tls is None:  # the loop closed the connection during the handshake
            raise ConnectionResetError("connection closed during the TLS handshake")
        self.connection_made(tls)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._tr = cast(asyncio.Transport, transport)
        if self.closed:  # aborted while connecting
            self._tr.abort()
            return
        self.connecting = False
        self._fast.opened += 1
        if self._fast.tls is not None:
            self._fast.tls.handshake_done(transport.get_extra_info("ssl_object"))
        self.owner.on_connected(self)

    def _connect_done(self, task: asyncio.Task[Any]) -> None:
        self._task = None
        if task.cancelled() or self.closed:
            return
        exc = task.exception()
        if exc is None:
            return
        self.closed = True
        self.connecting = False
        if self._handshaking or is_tls_failure(exc):
            outcome = self._fast.tls_failed(exc)
        elif isinstance(exc, ConnectionRefusedError):
            outcome = Outcome.CONNECT_REFUSED
        else:
            outcome = Outcome.CONNECT_ERROR
        self.owner.on_connect_failed(self, outcome, _perf_counter())

    # -- the hot path ----------------------------------------------------------------------------------------
    def send(self, intended: float, variant: int) -> None:
        self.intended = intended
        self.variant = variant
        self.nbytes = 0
        self.busy = True
        self.sent_at = _perf_counter()
        self._tr.write(self._requests[variant])  # type: ignore[union-attr]  # set before on_connected

    def send_now(self, variant: int) -> None:
        self.variant = variant
        self.nbytes = 0
        self.busy = True
        self.intended = self.sent_at = _perf_counter()
        self._tr.write(self._requests[variant])  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            self._unsolicited()
            return
        self.nbytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            raise
        except httptools.HttpParserError:
            self.abort(Outcome.PROTOCOL_ERROR)

    def on_message_complete(self) -> None:
        end = _perf_counter()
        self._a_start(self.intended)
        self._a_sent(self.sent_at)
        self._a_end(end)
        self._a_code(self.parser.get_status_code())
        self._a_nbytes(self.nbytes)
        self._a_variant(self.variant)
        self.busy = False
        if self.parser.should_keep_alive():
            self.owner.on_idle(self)
        else:
            self.closed = True
            self._tr.close()  # type: ignore[union-attr]
            self.owner.on_closed(self)

    # -- endings ---------------------------------------------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed or self.connecting:  # a failed handshake is the connect task's to report
            return
        self.closed = True
        if self.busy:
            # EOF or reset before the response completed (a read-until-close body counts here too), or a
            # TLS alert after the handshake (a TLS 1.3 server refusing the client certificate sends it then).
            self.busy = False
            outcome = self._fast.tls_failed(exc) if is_tls_failure(exc) else Outcome.RESET
            self._fast.binding.recorder.failure(
                self.intended, self.sent_at, outcome, self.nbytes, self.variant
            )
        self.owner.on_closed(self)

    def _unsolicited(self) -> None:
        # Bytes while idle (e.g. a 408 before the server closes): the connection cannot be trusted any more.
        self.closed = True
        self._tr.abort()  # type: ignore[union-attr]
        self.owner.on_closed(self)

    def abort(self, outcome: Outcome) -> None:
        if self.closed:
            return
        self.closed = True
        if self.connecting:
            self.connecting = False
            if self._task is not None:
                self._task.cancel()
            if self._tr is not None:
                self._tr.abort()
            if self._handshaking and outcome == Outcome.CONNECT_ERROR:  # the sweep's connect timeout
                outcome = self._fast.tls_failed(TimeoutError(HANDSHAKE_TIMEOUT))
            self.owner.on_connect_failed(self, outcome, _perf_counter())
            return
        if self.busy:
            self.busy = False
            self._fast.binding.recorder.failure(
                self.intended, self.sent_at, outcome, self.nbytes, self.variant
            )
        if self._tr is not None:
            self._tr.abort()
        self.owner.on_closed(self)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._task is not None:
            self._task.cancel()
        if self._tr is not None:
            self._tr.close()


class _BufferedFastConnection(_FastConnection, asyncio.BufferedProtocol):
    """For the stdlib loop: receive into the transport's reused buffer instead of a new bytes per read."""

    __slots__ = ()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._fast.buffer

    def buffer_updated(self, nbytes: int) -> None:
        if not self.busy:
            self._unsolicited()
            return
        self.nbytes += nbytes
        try:
            self.parser.feed_data(self._fast.buffer[:nbytes])
        except httptools.HttpParserCallbackError:
            raise
        except httptools.HttpParserError:
            self.abort(Outcome.PROTOCOL_ERROR)


class _Traced(_FastConnection):
    """Sends the run's prebuilt bytes (unsampled traceparent) except every ``every``-th request, which gets
    fresh ids spliced in. A sampled request is noted with its intended start (``Transport.traced``, end NaN):
    its latency is found among the recorder's samples at the end, so responses cost nothing extra."""

    __slots__ = ()

    def send(self, intended: float, variant: int) -> None:
        self.intended = intended
        self.variant = variant
        self.nbytes = 0
        self.busy = True
        self.sent_at = _perf_counter()
        fast = self._fast
        fast.countdown -= 1
        if fast.countdown:
            self._tr.write(self._requests[variant])  # type: ignore[union-attr]
        else:
            self._tr.write(self._sampled(variant))  # type: ignore[union-attr]

    def send_now(self, variant: int) -> None:
        self.variant = variant
        self.nbytes = 0
        self.busy = True
        self.intended = self.sent_at = _perf_counter()
        fast = self._fast
        fast.countdown -= 1
        if fast.countdown:
            self._tr.write(self._requests[variant])  # type: ignore[union-attr]
        else:
            self._tr.write(self._sampled(variant))  # type: ignore[union-attr]

    def _sampled(self, variant: int) -> bytes:
        fast = self._fast
        fast.countdown = fast.every
        ids = sampled_ids()
        fast.traced.append((ids, self.intended, _NAN))
        before, after = fast.split[variant]
        return b"".join((before, sampled_value(ids), after))


class _TracedBuffered(_Traced, _BufferedFastConnection):
    __slots__ = ()


def _is_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("uvloop")


class FastTransport(Transport):
    """HTTP/1.1 over TCP or TLS with prebuilt request bytes (``transport="fast"``)."""

    name = "fast"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[bytes] = []
        self.buffer = memoryview(bytearray(_READ_BUFFER))
        self._binding: Binding | None = None
        self._factory: type[_FastConnection] = _FastConnection
        self.tls: ResumingContext | None = None
        self.server_name: str | None = None
        self.split: list[tuple[bytes, bytes]] = []  # per template: its bytes around the traceparent value
        self.every = 0
        self.countdown = 0

    @property
    def binding(self) -> Binding:
        assert self._binding is not None, "bind() first"
        return self._binding

    def bind(self, binding: Binding) -> None:
        self._binding = binding
        self.requests = [t.http11_bytes(binding.target) for t in binding.templates]
        uv = _is_uvloop(binding.loop)
        self._factory = _FastConnection if uv else _BufferedFastConnection
        if binding.trace is not None and binding.trace.every:
            self._factory = _Traced if uv else _TracedBuffered
            self.split = [split_request(r) for r in self.requests]
            self.every = self.countdown = binding.trace.every
        if binding.tls is not None:
            self.tls = client_context(binding.tls, alpn=["http/1.1"])
            self.server_name = binding.tls.server_name or binding.target.host

    def connect(self, owner: Owner) -> Connection:
        conn = self._factory(self, owner)
        conn.start_connect()
        return conn

    def request_bytes(self) -> list[int]:
        return [len(r) for r in self.requests]

    @property
    def tls_resumed(self) -> int:
        return self.tls.resumed if self.tls is not None else 0

    def __getstate__(self) -> dict[str, object]:
        return {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__()  # type: ignore[misc]
