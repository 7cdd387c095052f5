"""An in-process fake target with scripted latency, status and failures, for users' and our own tests.

No sockets: a request "completes" after its scripted latency on the event loop and is recorded exactly as a
real transport records it, so schedules, timeouts, classification and merging can be tested without a server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sk_loadagent.engine._transports.base import Binding, Connection, Owner, Transport
from sk_loadagent.engine.result import Outcome

_perf_counter = time.perf_counter
_HEADER_BYTES = 64  # roughly what a small real response head weighs


@dataclass(frozen=True)
class MockReply:
    """What the fake target does with one request.

    ``failure=None`` answers ``status`` after ``latency`` seconds; ``Outcome.TIMEOUT`` never answers (the
    engine's timeout ends the request); any other failure ends the request without a response after
    ``latency`` (``CONNECT_REFUSED`` and ``CONNECT_ERROR`` as if the connection could not be opened).
    """

    latency: float = 0.001
    status: int = 200
    failure: Outcome | None = None
    body_bytes: int = 2


Script = Sequence[MockReply] | Callable[[int, int], MockReply]


class _MockConnection(Connection):
    __slots__ = ("_handle", "_mock")

    def __init__(self, mock: MockTransport, owner: Owner) -> None:
        super().__init__(owner, _perf_counter())
        self._mock = mock
        self._handle: asyncio.Handle | None = None

    def opened(self) -> None:
        self._handle = None
        if self.closed:
            return
        self.connecting = False
        self._mock.opened += 1
        self.owner.on_connected(self)

    def send(self, intended: float, variant: int) -> None:
        self.intended = intended
        self.variant = variant
        self.busy = True
        self.sent_at = _perf_counter()
        self._schedule(self._mock.next_reply(variant))

    def send_now(self, variant: int) -> None:
        self.send(_perf_counter(), variant)
        self.intended = self.sent_at

    def _schedule(self, reply: MockReply) -> None:
        if reply.failure == Outcome.TIMEOUT:
            return
        self._handle = self._mock.binding.loop.call_later(reply.latency, self._finish, reply)

    def _finish(self, reply: MockReply) -> None:
        self._handle = None
        recorder = self._mock.binding.recorder
        self.busy = False
        if reply.failure is None:
            recorder.response(
                self.intended,
                self.sent_at,
                _perf_counter(),
                reply.status,
                _HEADER_BYTES + reply.body_bytes,
                self.variant,
            )
            self.owner.on_idle(self)
            return
        recorder.failure(self.intended, self.sent_at, reply.failure, 0, self.variant)
        self.closed = True
        self.owner.on_closed(self)

    def abort(self, outcome: Outcome) -> None:
        if self.closed:
            return
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.connecting:
            self.connecting = False
            self.owner.on_connect_failed(self, outcome, _perf_counter())
            return
        if self.busy:
            self.busy = False
            self._mock.binding.recorder.failure(self.intended, self.sent_at, outcome, 0, self.variant)
        self.owner.on_closed(self)

    def close(self) -> None:
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class MockTransport(Transport):
    """A scripted fake target: ``MockTransport([MockReply(latency=0.02), MockReply(status=503)])``.

    A sequence is used in turn (request ``n`` of a worker gets ``script[n % len(script)]``); a callable gets
    ``(n, variant)`` and returns the reply (use a module-level function when ``workers`` is not 0).
    """

    name = "mock"

    def __init__(self, script: Script | MockReply = MockReply()) -> None:
        super().__init__()
        self.script: Script = (script,) if isinstance(script, MockReply) else script
        if not callable(self.script) and not self.script:
            raise ValueError("a MockTransport needs at least one MockReply")
        self._count = 0
        self._binding: Binding | None = None

    @property
    def binding(self) -> Binding:
        assert self._binding is not None, "bind() first"
        return self._binding

    def bind(self, binding: Binding) -> None:
        self._binding = binding
        self._count = 0
        self.opened = 0

    def next_reply(self, variant: int) -> MockReply:
        n = self._count
        self._count += 1
        if callable(self.script):
            return self.script(n, variant)
        return self.script[n % len(self.script)]

    def connect(self, owner: Owner) -> Connection:
        conn = _MockConnection(self, owner)
        conn._handle = self.binding.loop.call_soon(conn.opened)
        return conn

    def request_bytes(self) -> list[int]:
        return [len(t.http11_bytes(self.binding.target)) for t in self.binding.templates]

    def __getstate__(self) -> dict[str, object]:
        return {"script": self.script}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["script"])  # type: ignore[misc]
