"""The httpx path: ``httpx.AsyncClient`` for HTTP/2, proxies and whatever the fast path does not speak.

Each connection is a slot that carries one request at a time, so the schedulers, the timeout sweep and the
recording are the same as on the fast path. For HTTP/1.1 every slot has its own single-connection client
(sharing one SSL context): one pool with hundreds of connections makes httpx's bookkeeping per request grow
with the pool, which collapses under a stall. HTTP/2 slots share one client so streams multiplex. It costs a
task per request: httpx is for features, not for the highest rates. TLS options build the same context as on
the fast path (engine._tls); a proxy is the one the profile names (never one httpx finds in the environment).
"""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
import time
from typing import Any

import httpx

from sk_loadagent.engine._requests import USER_AGENT
from sk_loadagent.engine._tls import client_context, is_tls_failure
from sk_loadagent.engine._trace import TRACEPARENT, sampled_ids, sampled_value
from sk_loadagent.engine._transports.base import Binding, Connection, Owner, Transport
from sk_loadagent.engine.result import Outcome
from sk_loadagent.errors import InputError

_perf_counter = time.perf_counter


def classify(exc: BaseException) -> Outcome:
    """The Outcome of a request that raised instead of returning a response."""
    if is_tls_failure(exc):
        return Outcome.TLS
    if isinstance(exc, httpx.ConnectTimeout):
        return Outcome.CONNECT_ERROR
    if isinstance(exc, httpx.TimeoutException):
        return Outcome.TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        return Outcome.CONNECT_REFUSED if _caused_by(exc, ConnectionRefusedError) else Outcome.CONNECT_ERROR
    if isinstance(exc, httpx.RemoteProtocolError):
        text = str(exc).lower()
        # h11's words for "the peer closed the connection": the same event the fast path reports as a reset.
        closed = "disconnected" in text or "peer closed" in text or "without sending" in text
        return Outcome.RESET if closed else Outcome.PROTOCOL_ERROR
    if isinstance(exc, httpx.ReadError | httpx.WriteError | ConnectionError):
        return Outcome.RESET
    return Outcome.PROTOCOL_ERROR


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return "refused" in str(exc).lower()


def _response_bytes(response: httpx.Response) -> int:
    head = len(response.reason_phrase) + 15 + sum(len(k) + len(v) + 4 for k, v in response.headers.raw) + 2
    return head + response.num_bytes_downloaded


class _HttpxSlot(Connection):
    __slots__ = ("_client", "_stream", "_task", "_transport")

    def __init__(self, transport: HttpxTransport, owner: Owner) -> None:
        super().__init__(owner, _perf_counter())
        self._transport = transport
        self._task: asyncio.Task[Any] | asyncio.Handle | None = None
        self._client = transport.client_for_slot()
        self._stream = 0  # id of the network stream of the last answer: a new one is a new connection

    def opened(self) -> None:
        self._task = None
        if self.closed:
            return
        self.connecting = False
        self.owner.on_connected(self)

    def send(self, intended: float, variant: int) -> None:
        self.intended = intended
        self.variant = variant
        self.nbytes = 0
        self.busy = True
        self.sent_at = _perf_counter()
        self._task = self._transport.binding.loop.create_task(self._exchange(variant))

    def send_now(self, variant: int) -> None:
        self.send(_perf_counter(), variant)
        self.intended = self.sent_at

    async def _exchange(self, variant: int) -> None:
        transport = self._transport
        request, trace = transport.next_request(variant)
        try:
            response = await self._client.send(request)
        except asyncio.CancelledError:
            raise
        except (httpx.HTTPError, OSError) as exc:
            self._task = None
            if self.closed:
                return
            self.busy = False
            self.closed = True
            outcome = classify(exc)
            if outcome == Outcome.TLS:
                transport.tls_failed(exc)
            transport.binding.recorder.failure(self.intended, self.sent_at, outcome, 0, self.variant)
            transport.release(self._client)
            self.owner.on_closed(self)
            return
        end = _perf_counter()
        self._task = None
        if self.closed:
            return
        self.busy = False
        self._note_connection(response)
        if self._client.cookies:
            # Stateless like the fast path: a Set-Cookie must not turn into Cookie headers on later requests.
            self._client.cookies.clear()
        transport.binding.recorder.response(
            self.intended, self.sent_at, end, response.status_code, _response_bytes(response), self.variant
        )
        if trace is not None:
            transport.traced.append((trace, self.intended, end))
        self.owner.on_idle(self)

    def _note_connection(self, response: httpx.Response) -> None:
        stream = id(response.extensions.get("network_stream"))
        if stream != self._stream:
            self._stream = stream
            self._transport.opened += 1

    def abort(self, outcome: Outcome) -> None:
        if self.closed:
            return
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.connecting:
            self.connecting = False
            self.owner.on_connect_failed(self, outcome, _perf_counter())
            return
        if self.busy:
            self.busy = False
            self._transport.binding.recorder.failure(self.intended, self.sent_at, outcome, 0, self.variant)
        self._transport.release(self._client)
        self.owner.on_closed(self)

    def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._transport.release(self._client)


class HttpxTransport(Transport):
    """Requests through one ``httpx.AsyncClient`` (``transport="httpx"``)."""

    name = "httpx"

    def __init__(self) -> None:
        super().__init__()
        self._binding: Binding | None = None
        self._shared: httpx.AsyncClient | None = None  # HTTP/2: one client, streams multiplexed
        self._ssl: ssl.SSLContext | None = None
        self._clients: set[httpx.AsyncClient] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.requests: list[httpx.Request] = []
        self._wire_bytes: list[int] = []
        self.every = 0
        self.countdown = -1

    @property
    def binding(self) -> Binding:
        assert self._binding is not None, "bind() first"
        return self._binding

    def bind(self, binding: Binding) -> None:
        if binding.http2 and importlib.util.find_spec("h2") is None:
            raise InputError.single(
                "transport httpx", "http2", "the optional h2 package: pip install 'sk-loadagent[http2]'"
            )
        self._binding = binding
        # One SSL context for every client: building one loads the CA bundle (tens of milliseconds).
        self._ssl = httpx.create_ssl_context() if binding.tls is None else client_context(binding.tls)
        if binding.http2:
            self._shared = self._new_client(binding.max_connections)
        url = f"{binding.target.scheme}://{binding.target.host_header}{binding.target.path}"
        self.requests = []
        # tls.serverName: the name sent in SNI and checked against the certificate instead of the URL's host.
        server_name = binding.tls.server_name if binding.tls is not None else None
        extensions = {"sni_hostname": server_name} if server_name else {}
        for template in binding.templates:
            # As bytes: httpx encodes str values as ASCII, the fast path (and HTTP/1.1) as latin-1.
            merged = {"User-Agent": USER_AGENT, **dict(template.headers)}
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in merged.items()]
            request = httpx.Request(
                template.method, url, headers=headers, content=template.body, extensions=extensions
            )
            self.requests.append(request)
        self._wire_bytes = [len(t.http11_bytes(binding.target)) for t in binding.templates]
        # Without sampling the countdown never reaches 0 (a decrement per request is all it costs).
        self.every = binding.trace.every if binding.trace is not None else 0
        self.countdown = self.every or -1

    def next_request(self, variant: int) -> tuple[httpx.Request, bytes | None]:
        """The prebuilt request, or every ``trace.every``-th time a copy with a sampled traceparent."""
        self.countdown -= 1
        if self.countdown:
            return self.requests[variant], None
        self.countdown = self.every
        base = self.requests[variant]
        ids = sampled_ids()
        headers = base.headers.copy()
        headers[TRACEPARENT] = sampled_value(ids).decode("ascii")
        request = httpx.Request(
            base.method, base.url, headers=headers, content=base.content, extensions=base.extensions
        )
        return request, ids

    def _new_client(self, connections: int) -> httpx.AsyncClient:
        binding = self.binding
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        # trust_env=False: the proxy is the profile's, which already followed the environment and NO_PROXY.
        return httpx.AsyncClient(
            http2=binding.http2,
            limits=limits,
            timeout=httpx.Timeout(binding.timeout),
            verify=self._ssl if self._ssl is not None else True,  # set in bind()
            proxy=binding.proxy,
            trust_env=False,
        )

    def client_for_slot(self) -> httpx.AsyncClient:
        if self._shared is not None:
            return self._shared
        client = self._new_client(1)
        self._clients.add(client)
        return client

    def release(self, client: httpx.AsyncClient) -> None:
        """Close a slot's own client (in the background: its connection may still be closing)."""
        if client is self._shared or client not in self._clients:
            return
        self._clients.discard(client)
        task = self.binding.loop.create_task(client.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def connect(self, owner: Owner) -> Connection:
        slot = _HttpxSlot(self, owner)
        slot._task = self.binding.loop.call_soon(slot.opened)
        return slot

    def request_bytes(self) -> list[int]:
        return list(self._wire_bytes)

    async def aclose(self) -> None:
        for client in list(self._clients):
            self.release(client)
        if self._shared is not None:
            await self._shared.aclose()
            self._shared = None
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def __getstate__(self) -> dict[str, object]:
        return {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__()  # type: ignore[misc]
