"""The engine's HTTP clients for flow steps: the fast HTTP/1.1 path and httpx (HTTP/2, proxies, HEAD).

``HttpClients`` makes the clients of one run in one worker and keeps what the generator report needs
(connections opened, TLS failures by reason, resumed sessions). A fast client is one keep-alive connection
on asyncio Protocol callbacks with httptools parsing, like the single-request fast path, except that it
keeps the response's status, headers and body for the step's checks and extractions (only what they read)
and answers through a future rather than straight into the recorder.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import httptools
import httpx

from sk_loadagent.engine._requests import Target
from sk_loadagent.engine._tls import (
    ResumingContext,
    client_context,
    failure_reason,
    is_tls_failure,
    tls_cause,
)
from sk_loadagent.engine._transports.httpx import classify
from sk_loadagent.engine.clients._callbacks import CallbackConnection, FutureAnswers
from sk_loadagent.engine.clients.base import Call, Client, ClientError, ClientTarget, Reply
from sk_loadagent.engine.result import OUTCOME_NAMES, Outcome
from sk_loadagent.models.plan import TlsOptions

_perf_counter = time.perf_counter
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # a request of these says its length, 0 too
_KEEP_BODY, _KEEP_HEADERS = 1, 2


def keeps(body: bool, headers: bool) -> int:
    """What a reply keeps, as ``FastHttpConnection.send`` takes it."""
    return (_KEEP_BODY if body else 0) | (_KEEP_HEADERS if headers else 0)


def _fail(outcome: Outcome) -> ClientError:
    return ClientError(OUTCOME_NAMES[outcome])


class HttpClients:
    """The HTTP clients of one run in one worker: ``fast`` (HTTP/1.1) or ``httpx``."""

    def __init__(
        self,
        name: str,
        *,
        url: str,
        timeout: float,
        tls: TlsOptions | None,
        http2: bool = False,
        proxy: str | None = None,
    ) -> None:
        self.name = name
        self.target = Target.from_url(url)
        self.base_url = url.rstrip("/")
        self.timeout = timeout
        self.http2 = http2
        self.proxy = proxy
        self.opened = 0
        self.tls_failures: Counter[str] = Counter()
        self.tls_options = tls
        self.tls: ResumingContext | None = None
        if tls is not None:
            self.tls = client_context(tls, alpn=["h2", "http/1.1"] if http2 else ["http/1.1"])
        self.server_name = (tls.server_name if tls is not None else None) or self.target.host
        self.host_line = f" HTTP/1.1\r\nHost: {self.target.host_header}\r\n"

    @property
    def tls_resumed(self) -> int:
        return self.tls.resumed if self.tls is not None and self.name == "fast" else 0

    def client_target(self) -> ClientTarget:
        t = self.target
        return ClientTarget(self.base_url, t.scheme, t.host, t.port, self.timeout)

    def new(self) -> Client:
        return FastHttpClient(self) if self.name == "fast" else HttpxClient(self)

    def tls_failed(self, exc: BaseException | None) -> Outcome:
        self.tls_failures[failure_reason(tls_cause(exc)) if exc is not None else "handshake failed"] += 1
        return Outcome.TLS

    async def aclose(self) -> None:
        """Nothing shared to release: each client closes its own connection."""


class _ParserCallbacks:
    """What a parser calls back: only what a request keeps (a callback it lacks costs nothing per reply)."""

    __slots__ = ("on_body", "on_header", "on_message_complete")
    on_body: Callable[[bytes], None]
    on_header: Callable[[bytes, bytes], None]
    on_message_complete: Callable[[], None]


class FastHttpConnection(CallbackConnection):
    """One HTTP/1.1 keep-alive connection (plain or TLS) carrying one request at a time, on callbacks.

    ``send`` writes a request's bytes; the reply is parsed into ``status``, ``body`` and ``headers`` (only
    what the request asked to keep), then ``answered()`` is called, or ``failed(outcome)`` when the request
    ends without a reply: the owner decides where they go (a future for a coroutine, a flow's state machine).
    """

    def __init__(
        self, clients: HttpClients, answered: Callable[[], None], failed: Callable[[Outcome], None]
    ) -> None:
        super().__init__(answered, failed)
        self._clients = clients
        # One parser per combination of what a reply keeps (body, headers), made when first needed.
        self._parsers: list[httptools.HttpResponseParser | None] = [None] * 4
        self._parser = self._parser_for(0)
        self._handshaking = False
        self._parts: list[bytes] = []

    def _parser_for(self, keeps: int) -> httptools.HttpResponseParser:
        parser = self._parsers[keeps]
        if parser is None:
            callbacks = _ParserCallbacks()
            callbacks.on_message_complete = self._message_complete
            if keeps & _KEEP_BODY:
                callbacks.on_body = self._parts.append
            if keeps & _KEEP_HEADERS:
                callbacks.on_header = self._header
            parser = self._parsers[keeps] = httptools.HttpResponseParser(callbacks)
        return parser

    # -- connecting ------------------------------------------------------------------------------------------
    async def connect(self, target: ClientTarget) -> None:
        clients = self._clients
        loop = asyncio.get_running_loop()
        try:
            if clients.tls is None:
                await loop.create_connection(lambda: self, clients.target.host, clients.target.port)
            else:
                tcp, _ = await loop.create_connection(
                    asyncio.Protocol, clients.target.host, clients.target.port
                )
                self._handshaking = True
                tls = await loop.start_tls(
                    tcp,
                    self,
                    clients.tls,
                    server_hostname=clients.server_name,
                    ssl_handshake_timeout=target.timeout,
                )
                self._handshaking = False
                if tls is None:
                    raise ConnectionResetError("connection closed during the TLS handshake")
                self.connection_made(tls)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.broken = True
            if self._handshaking or is_tls_failure(exc):
                raise _fail(clients.tls_failed(exc)) from None
            if isinstance(exc, ConnectionRefusedError):
                raise _fail(Outcome.CONNECT_REFUSED) from None
            raise _fail(Outcome.CONNECT_ERROR) from None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._tr = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self._clients.opened += 1
        if self._clients.tls is not None:
            self._clients.tls.handshake_done(transport.get_extra_info("ssl_object"))

    # -- requests --------------------------------------------------------------------------------------------
    def send(self, wire: bytes, keeps: int) -> None:
        """Write one request; its reply keeps the body or the headers only when ``keeps`` says so."""
        self.busy = True
        self.bytes_in = 0
        self.bytes_out = len(wire)
        if keeps & _KEEP_HEADERS:
            self.headers = {}
        self._parser = self._parsers[keeps] or self._parser_for(keeps)
        self._tr.write(wire)  # type: ignore[union-attr]  # connect() first

    def data_received(self, data: bytes) -> None:
        if not self.busy:
            self._close_broken()  # bytes while idle: the connection cannot be trusted any more
            return
        self.bytes_in += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            raise
        except httptools.HttpParserError:
            self.abort(Outcome.PROTOCOL_ERROR)

    def _header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def _message_complete(self) -> None:
        self.busy = False
        self.status = self._parser.get_status_code()
        parts = self._parts  # (a connection that fails mid-reply is not used again: no parts are left over)
        if parts:
            self.body = parts[0] if len(parts) == 1 else b"".join(parts)
            parts.clear()
        else:
            self.body = b""
        if not self._parser.should_keep_alive():
            self._close_broken()
        self._answered()

    # -- endings ---------------------------------------------------------------------------------------------
    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        if self.busy:
            self.busy = False
            # EOF or reset before the response completed, or a TLS alert after the handshake.
            self._failed(self._clients.tls_failed(exc) if is_tls_failure(exc) else Outcome.RESET)

    def abort(self, outcome: Outcome) -> None:
        """End the request in flight with ``outcome`` (the engine's timeout) and drop the connection."""
        self.broken = True
        busy, self.busy = self.busy, False
        if self._tr is not None:
            self._tr.abort()
        if busy:
            self._failed(outcome)

    def _close_broken(self) -> None:
        self.broken = True
        if self._tr is not None:
            self._tr.close()

    def drop(self) -> None:
        """Close the connection (nothing is in flight, or what is no longer matters)."""
        self.busy = False
        self._close_broken()


def request_head(
    method: str, path: str, host_line: str, headers: list[tuple[str, str]], body: bytes
) -> bytes:
    """An HTTP/1.1 request's bytes (the headers as given: the engine's steps carry their User-Agent)."""
    parts = [method, " ", path, host_line]
    for name, value in headers:
        parts += (name, ": ", value, "\r\n")
    if body or method in BODY_METHODS:
        parts.append(f"Content-Length: {len(body)}\r\n")
    parts.append("\r\n")
    wire = "".join(parts).encode("latin-1")
    return wire + body if body else wire


class FastHttpClient(FastHttpConnection, FutureAnswers):
    """A fast connection as a ``Client``: each call answered through a future."""

    def __init__(self, clients: HttpClients) -> None:
        super().__init__(clients, self._resolve, self._reject)
        self._loop = asyncio.get_running_loop()

    def call(self, call: Call) -> asyncio.Future[Reply]:
        wire = request_head(call.method, call.path, self._clients.host_line, call.headers, call.body)
        waiter = self._waiter = self._loop.create_future()
        self._want_headers = call.want_headers
        self.send(wire, keeps(call.want_body, call.want_headers))
        return waiter


class HttpxClient(Client):
    """A call through httpx: one single-connection client (a shared one for HTTP/2, streams multiplexed)."""

    _shared: httpx.AsyncClient | None = None

    def __init__(self, clients: HttpClients) -> None:
        self._clients = clients
        self._client: httpx.AsyncClient | None = None
        self._stream = 0
        self.broken = False

    async def connect(self, target: ClientTarget) -> None:
        clients = self._clients
        verify: Any = clients.tls if clients.tls is not None else True
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        # trust_env=False: the proxy is the profile's, which already followed the environment and NO_PROXY.
        self._client = httpx.AsyncClient(
            http2=clients.http2,
            limits=limits,
            timeout=httpx.Timeout(clients.timeout),
            verify=verify,
            proxy=clients.proxy,
            trust_env=False,
        )

    async def call(self, call: Call) -> Reply:
        clients = self._clients
        assert self._client is not None, "connect() first"
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in call.headers]
        server_name = clients.tls_options.server_name if clients.tls_options is not None else None
        extensions = {"sni_hostname": server_name} if server_name else {}
        request = httpx.Request(
            call.method,
            clients.base_url + call.path,
            headers=headers,
            content=call.body,
            extensions=extensions,
        )
        try:
            response = await self._client.send(request)
        except asyncio.CancelledError:
            raise
        except (httpx.HTTPError, OSError) as exc:
            self.broken = True
            outcome = classify(exc)
            if outcome == Outcome.TLS:
                clients.tls_failed(exc)
            raise _fail(outcome) from None
        stream = id(response.extensions.get("network_stream"))
        if stream != self._stream:
            self._stream = stream
            clients.opened += 1
        self._client.cookies.clear()  # stateless: a Set-Cookie is the step's to extract, not a jar's
        head = len(response.reason_phrase) + 15 + sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
        return Reply(
            status=response.status_code,
            body=response.content if call.want_body else b"",
            headers={k.lower(): v for k, v in response.headers.items()} if call.want_headers else {},
            bytes_in=head + 2 + response.num_bytes_downloaded,
            bytes_out=len(request.content),
        )

    def abort(self, outcome: Outcome) -> None:
        self.broken = True

    async def close(self) -> None:
        self.broken = True
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
