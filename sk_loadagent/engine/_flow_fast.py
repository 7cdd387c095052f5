"""Running a flow on callbacks: every step an HTTP/1.1 request on the engine's fast client, or every step a
message of a WebSocket test's session.

When a connection kind on callbacks carries every step of a flow (``carrier_for``: the fast HTTP client for a
flow of HTTP requests, the WebSocket hub's sessions for a WebSocket test), an iteration is a
small state machine instead of a task: a step's reply callback judges and records it and writes the next
step's request, so a step costs no coroutine, future or wake-up. The semantics are ``_flow_loop``'s, step for
step: the first step is due at the iteration's start (the intended start on the open model, the moment a VU
begins it on the closed one), each later one when the step before ended plus that step's think time, and
each is timed from the moment it was due; an iteration's latency runs to the end of its last step less the
think time it spent, and it fails with its first failing step's class (a failing ``onFail: stop`` step
ends it). A step whose references cannot be filled fails as ``extract`` without a request.

Connections: on the open model a pool hands an idle connection to each step as it comes due, opening new ones
up to the connection limit (at most ``MAX_CONNECTING`` at once) for the steps waiting; on the closed model
each VU keeps its own. A step still unanswered ``timeout`` after it was due is ended as a timeout by the
sweep, its connection closed and replaced.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from functools import cache, partial
from typing import TYPE_CHECKING, Any, Protocol, cast

import orjson

from sk_loadagent.engine._flow import (
    HTTP,
    BadValue,
    CompiledFlow,
    CompiledStep,
    IterationState,
    MissingValue,
    Template,
    json_template,
)
from sk_loadagent.engine._flow_base import (
    MAX_CONNECTING,
    RETRY_AFTER,
    ClosedSchedule,
    FlowBase,
    OpenSchedule,
    Sleeper,
    step_span,
)
from sk_loadagent.engine._flow_wire import RequestWire
from sk_loadagent.engine.clients._http import FastHttpConnection, HttpClients
from sk_loadagent.engine.clients._websocket import FastWebSocketConnection, WebSocketHub
from sk_loadagent.engine.clients.base import ClientError, ClientTarget, outcome_of
from sk_loadagent.engine.result import Outcome
from sk_loadagent.models.jsonpath import MISSING

if TYPE_CHECKING:  # its module needs hpack (the surfaces extra): imported when a gRPC test runs
    from sk_loadagent.engine.clients._grpc import GrpcHub

_perf_counter = time.perf_counter
_NAN = math.nan
_OK = Outcome.OK
# Where an iteration is: between two steps (thinking, or not started), its step waiting for a connection,
# or its step's request sent.
_IDLE, _WAITING, _SENT = range(3)
_Opened = Callable[["_StepConnection", Outcome | None], None]


class _Wire(Protocol):
    """A step's request as its connection writes it, rendered per iteration."""

    keeps: int  # what an HTTP reply keeps (``FastHttpConnection.send``)
    traced: bool  # a sampled iteration's step carries its own span

    def render(self, it: IterationState, traceparent: str | None) -> Any: ...


class Carrier(Protocol):
    """A kind of connection on callbacks: it makes a step's wire and the connections that carry it."""

    name: str  # the client's name in the run's client errors

    def wire(self, step: CompiledStep, trace: list[tuple[str, str]]) -> _Wire: ...

    def connection(self, driver: FastFlowDriver) -> _StepConnection: ...


class HttpCarrier:
    """HTTP/1.1 requests on the fast client."""

    name = HTTP

    def __init__(self, http: HttpClients) -> None:
        self.http = http

    def wire(self, step: CompiledStep, trace: list[tuple[str, str]]) -> _Wire:
        return RequestWire(step, self.http.host_line, trace)

    def connection(self, driver: FastFlowDriver) -> _StepConnection:
        return _HttpStep(self.http, driver)


class _MessageWire:
    """A WebSocket step's message and the correlation value its reply must carry.

    A JSON message is one text template (``json_template``), and the correlation value is the message's
    own node at the correlation path, rendered alone: no tree is built per message. Where that does not
    hold (a text body, a path that is not singular, a node that is not one text), the rendered params go
    through ``WebSocketHub.message``, as a session on tasks does."""

    keeps = 0
    traced = False

    def __init__(self, step: CompiledStep, hub: WebSocketHub) -> None:
        self._params = step.rendered_params
        self._message = hub.message
        self._text: Template | None = None
        self._expected: Template | str | None = None
        params = step.params
        document = params.get("json") if isinstance(params, dict) else None
        correlate = hub.correlate
        if document is None or (correlate is not None and not correlate.singular):
            return
        if correlate is not None:
            node = correlate.first(document)
            if isinstance(node, Template):
                self._expected = node if node.static is None else node.static
            elif node is MISSING or _holds_template(node):
                return
            else:
                self._expected = node if isinstance(node, str) else orjson.dumps(node).decode()
        self._text = json_template(document)

    def render(self, it: IterationState, traceparent: str | None) -> tuple[bytes, str | None]:
        text = self._text
        if text is None:
            return self._message(self._params(it))
        expected = self._expected
        if isinstance(expected, Template):
            expected = expected.render(it)
        return text.render(it).encode(), expected


def _holds_template(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_holds_template(v) for v in node.values())
    if isinstance(node, list):
        return any(_holds_template(v) for v in node)
    return isinstance(node, Template)


class WebSocketCarrier:
    """Messages of a WebSocket test's sessions."""

    name = "websocket"

    def __init__(self, hub: WebSocketHub) -> None:
        self.hub = hub

    def wire(self, step: CompiledStep, trace: list[tuple[str, str]]) -> _Wire:
        return _MessageWire(step, self.hub)

    def connection(self, driver: FastFlowDriver) -> _StepConnection:
        return _WebSocketStep(self.hub, driver)


class GrpcCarrier:
    """Calls of a gRPC test's method, each VU (or pool slot) on an HTTP/2 connection of its own."""

    name = "grpc"

    def __init__(self, hub: GrpcHub) -> None:
        self.hub = hub
        self._step = _grpc_step()

    def wire(self, step: CompiledStep, trace: list[tuple[str, str]]) -> _Wire:
        return self.hub.request_wire(step)

    def connection(self, driver: FastFlowDriver) -> _StepConnection:
        return self._step(self.hub, driver)


def carrier_for(flow: CompiledFlow, http: HttpClients, hub: object | None) -> Carrier | None:
    """What carries this flow on callbacks, or None (it runs on tasks): the fast client when every step is
    an HTTP request on it; a WebSocket test's or a gRPC test's hub for its messages or calls."""
    if hub is None:
        if http.name == "fast" and all(step.client == HTTP for step in flow.steps):
            return HttpCarrier(http)
        return None
    if isinstance(hub, WebSocketHub) and all(step.client == hub.kind for step in flow.steps):
        return WebSocketCarrier(hub)
    kind = getattr(hub, "kind", None)
    if kind == "grpc" and all(step.client == kind for step in flow.steps):
        return GrpcCarrier(cast("GrpcHub", hub))
    return None


class _Vu:
    """A closed-model VU: its connection, whether the schedule wants it running, whether it is looping."""

    __slots__ = ("conn", "index", "looping", "opening", "running")

    def __init__(self, index: int) -> None:
        self.index = index
        self.conn: _StepConnection | None = None
        self.opening: _StepConnection | None = None  # its connection being opened for a waiting step
        self.running = False
        self.looping = False


class _Iteration(IterationState):
    """An iteration in progress: its values (as IterationState) and where its steps are."""

    __slots__ = (
        "conn",
        "due",
        "end",
        "finished",
        "first_sent",
        "outcome",
        "phase",
        "request",
        "sent",
        "start",
        "step",
        "thought",
        "ticket",
        "trace",
        "user",
    )

    def __init__(
        self, index: int, vu: int, row: tuple[str, ...], start: float, user: _Vu | None, trace: bytes | None
    ) -> None:
        super().__init__(index, vu, row)
        self.start = start
        self.user = user  # the closed model's VU
        self.trace = trace
        self.step = 0
        self.due = start  # when the current step was (or will be) due
        self.phase = _IDLE
        self.request: Any = b""  # what the step's connection writes (its wire's rendering)
        self.conn: _StepConnection | None = None
        self.sent = 0.0
        self.first_sent = _NAN
        self.end = _NAN
        self.thought = 0.0
        self.outcome = _OK
        self.ticket = 0  # its place in the pool's queue while waiting (0: not queued)
        self.finished = False


class _HttpStep(FastHttpConnection):
    """A fast connection whose replies go straight to the driver, and the iteration whose step it carries."""

    def __init__(self, clients: HttpClients, driver: FastFlowDriver) -> None:
        super().__init__(clients, partial(driver.step_answered, self), partial(driver.step_failed, self))
        self.iteration: _Iteration | None = None
        self.connecting: asyncio.Task[None] | None = None


class _WebSocketStep(FastWebSocketConnection):
    """A WebSocket session whose replies go straight to the driver, and the iteration it carries."""

    def __init__(self, hub: WebSocketHub, driver: FastFlowDriver) -> None:
        super().__init__(hub, partial(driver.step_answered, self), partial(driver.step_failed, self))
        self.iteration: _Iteration | None = None
        self.connecting: asyncio.Task[None] | None = None


@cache
def _grpc_step() -> Callable[[GrpcHub, FastFlowDriver], _StepConnection]:
    """The gRPC connection whose calls' ends go straight to the driver, defined when a gRPC test first runs
    (its module needs hpack, which the engine imports only then)."""
    from sk_loadagent.engine.clients._grpc_wire import FastGrpcConnection

    class _GrpcStep(FastGrpcConnection):
        def __init__(self, hub: GrpcHub, driver: FastFlowDriver) -> None:
            super().__init__(hub, partial(driver.step_answered, self), partial(driver.step_failed, self))
            self.iteration: _Iteration | None = None
            self.connecting: asyncio.Task[None] | None = None

    return _GrpcStep


class _StepConnection(Protocol):
    """What the driver uses of a connection on callbacks (``FastHttpConnection``'s contract), and the
    iteration whose step it carries."""

    iteration: _Iteration | None
    connecting: asyncio.Task[None] | None
    broken: bool
    status: int | None
    body: bytes
    headers: dict[str, str]
    bytes_in: int
    bytes_out: int

    async def connect(self, target: ClientTarget) -> None: ...

    def send(self, request: Any, keeps: int) -> None: ...

    def abort(self, outcome: Outcome) -> None: ...

    def drop(self) -> None: ...


class FastFlowDriver(FlowBase):
    """What both models share on callbacks: advancing iterations through their steps, the sweep, the end."""

    def __init__(self, *, carrier: Carrier, **common: Any) -> None:
        super().__init__(**common)
        self.carrier = carrier
        trace = self.trace_headers
        self._steps = self.flow.steps
        self._wires = [carrier.wire(s, trace.get(s.index, [])) for s in self._steps]
        self._last = len(self._steps) - 1
        self._record = self.steps.record
        self._running: set[_Iteration] = set()
        self._in_flight = 0
        self._conns: set[_StepConnection] = set()
        self._opening: set[asyncio.Task[None]] = set()
        self._sleeper = Sleeper(self.loop)

    # -- to be provided by a model ---------------------------------------------------------------------------
    def connection_for(self, it: _Iteration) -> _StepConnection | None:
        """An idle connection for the iteration's step, or None: it is sent when one is ready."""
        raise NotImplementedError

    def connection_done(self, conn: _StepConnection) -> None:
        """The step on ``conn`` ended (a broken connection is not used again)."""
        raise NotImplementedError

    def stop_waiting(self, it: _Iteration) -> None:
        """The iteration's step waits for a connection no more (it timed out, or the run was cut)."""
        raise NotImplementedError

    def iteration_ended(self, it: _Iteration) -> None:
        """What comes after an iteration (the closed model's VU goes on)."""

    # -- an iteration ----------------------------------------------------------------------------------------
    def begin(self, start: float, index: int, row: tuple[str, ...], vu: _Vu | None) -> None:
        trace = self.sampled() if self.every else None
        it = _Iteration(index, vu.index if vu is not None else self.worker, row, start, vu, trace)
        self._running.add(it)
        self._advance(it)

    def _advance(self, it: _Iteration) -> None:
        """Run the iteration's steps from its current one until one waits for a reply or a connection."""
        while True:
            wire = self._wires[it.step]
            try:
                trace = it.trace
                it.request = wire.render(it, step_span(trace) if trace is not None and wire.traced else None)
            except (MissingValue, BadValue, ClientError) as exc:
                # A reference that cannot be filled; or a message the surface cannot send (no correlation id).
                outcome, message = (Outcome.EXTRACT, None)
                if isinstance(exc, ClientError):
                    outcome, message = outcome_of(exc)
                if message is not None:
                    self.client_errors[f"{self.carrier.name}: {message}"] += 1
                now = _perf_counter()
                self._record(it.step, it.due, now, _NAN, outcome, 0, 0, 0)
                if self._settle(it, self._steps[it.step], outcome, now, _NAN, now):
                    continue
                return
            self._in_flight += 1
            conn = self.connection_for(it)
            if conn is None:
                it.phase = _WAITING
            else:
                self.send(it, conn)
            return

    def send(self, it: _Iteration, conn: _StepConnection) -> None:
        wire = self._wires[it.step]
        it.phase = _SENT
        it.conn = conn
        conn.iteration = it
        it.sent = _perf_counter()
        conn.send(it.request, wire.keeps)

    def step_answered(self, conn: _StepConnection) -> None:
        end = _perf_counter()
        it = conn.iteration
        if it is None:  # cut: what it answered no longer counts
            self.connection_done(conn)
            return
        conn.iteration = it.conn = None
        self._in_flight -= 1
        index, sent = it.step, it.sent
        step = self._steps[index]
        outcome, ran, failed = step.judge(conn, it)
        status, bytes_in, bytes_out = conn.status or 0, conn.bytes_in, conn.bytes_out
        self._record(index, it.due, sent, end, outcome, status, bytes_in, bytes_out, ran, failed)
        self.connection_done(conn)
        if self._settle(it, step, outcome, sent, end, end):
            self._advance(it)

    def step_failed(self, conn: _StepConnection, outcome: Outcome) -> None:
        now = _perf_counter()
        it = conn.iteration
        if it is None:
            self.connection_done(conn)
            return
        conn.iteration = it.conn = None
        self._in_flight -= 1
        self._record(it.step, it.due, it.sent, _NAN, outcome, 0, 0, 0)
        self.connection_done(conn)
        if self._settle(it, self._steps[it.step], outcome, it.sent, _NAN, now):
            self._advance(it)

    def step_unsent(self, it: _Iteration, outcome: Outcome) -> None:
        """The step waiting for a connection fails without a request (its connect failed, or it timed out)."""
        now = _perf_counter()
        self._in_flight -= 1
        self._record(it.step, it.due, now, _NAN, outcome, 0, 0, 0)
        if self._settle(it, self._steps[it.step], outcome, now, _NAN, now):
            self._advance(it)

    def _settle(
        self, it: _Iteration, step: CompiledStep, result: Outcome, sent: float, end: float, known: float
    ) -> bool:
        """Fold a step's result into its iteration; True: the next step is due now."""
        it.phase = _IDLE
        if it.first_sent != it.first_sent:  # NaN: the first step that was sent
            it.first_sent = sent
        if result != _OK and it.outcome == _OK:
            it.outcome = result
        it.end = end
        if (result != _OK and step.stop_on_fail) or it.step == self._last:
            self._ended(it)
            return False
        it.step += 1
        it.due = known + step.think
        if step.think > 0:
            it.thought += step.think
            self._sleeper.at(it.due, partial(self._resume, it))
            return False
        return True

    def _resume(self, it: _Iteration) -> None:
        if not it.finished:
            self._advance(it)

    def _ended(self, it: _Iteration) -> None:
        it.finished = True
        self._running.discard(it)
        first_sent = it.first_sent if it.first_sent == it.first_sent else it.start
        self.recorder.ended(it.start, first_sent, it.end - it.thought, it.outcome)
        if it.trace is not None and it.end == it.end:  # a sampled iteration that was answered
            self.traced.append((it.trace, it.start, it.end - it.thought))
        self.iteration_ended(it)

    # -- connections -----------------------------------------------------------------------------------------
    def open_connection(self, done: _Opened) -> _StepConnection:
        """Start opening a connection; ``done(conn, outcome)`` hears how it went (outcome None: open)."""
        conn = self.carrier.connection(self)
        self._conns.add(conn)
        task = conn.connecting = self.loop.create_task(conn.connect(self.target))
        self._opening.add(task)
        task.add_done_callback(partial(self._connect_done, conn, done))
        return conn

    def _connect_done(self, conn: _StepConnection, done: _Opened, task: asyncio.Task[None]) -> None:
        self._opening.discard(task)
        conn.connecting = None
        if task.cancelled():
            self.drop(conn)
            return
        exc = task.exception()
        if exc is None:
            done(conn, None)
            return
        self.drop(conn)
        outcome, message = outcome_of(exc)
        if message is not None:
            self.client_errors[f"{self.carrier.name}: {message}"] += 1
        done(conn, outcome)

    def drop(self, conn: _StepConnection) -> None:
        self._conns.discard(conn)
        conn.drop()

    # -- housekeeping (the worker's supervisor) --------------------------------------------------------------
    def in_flight(self) -> int:
        return self._in_flight

    def sweep(self, now: float, timeout: float) -> None:
        for it in list(self._running):
            if it.phase != _IDLE and now - it.due > timeout and not it.finished:
                if it.phase == _SENT:
                    assert it.conn is not None
                    it.conn.abort(Outcome.TIMEOUT)  # its failure comes back through step_failed
                else:
                    self.stop_waiting(it)
                    self.step_unsent(it, Outcome.TIMEOUT)

    def cut(self) -> int:
        """At the hard end: each iteration still running ends as a timeout, its step in flight too."""
        self.closing = True
        cut = 0
        for it in list(self._running):
            it.finished = True
            cut += 1
            if it.phase != _IDLE:  # the step in flight, or waiting for a connection
                self._in_flight -= 1
                self._record(it.step, it.due, it.due, _NAN, Outcome.TIMEOUT, 0, 0, 0)
            self.recorder.ended(it.start, it.start, _NAN, Outcome.TIMEOUT)
            if it.phase == _SENT and it.conn is not None:
                conn, it.conn = it.conn, None
                conn.iteration = None
                conn.abort(Outcome.TIMEOUT)
            elif it.phase == _WAITING:
                self.stop_waiting(it)
        self._running.clear()
        return cut

    async def close(self) -> None:
        self.closing = True
        self._sleeper.close()
        for it in self._running:  # (none after a drain or a cut) what closing ends is no longer recorded
            it.finished = True
            if it.conn is not None:
                it.conn.iteration = None
        self._running.clear()
        for task in list(self._opening):
            task.cancel()
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)
        for conn in list(self._conns):
            self.drop(conn)


class FastFlowOpenLoop(OpenSchedule, FastFlowDriver):
    """Iterations on an arrival schedule; each step takes an idle connection of the pool or waits for one."""

    def __init__(self, *, max_clients: int, **common: Any) -> None:
        super().__init__(**common)
        self._limit = max_clients
        self._idle: list[_StepConnection] = []
        self._queue: deque[tuple[int, _Iteration]] = deque()  # (ticket, iteration) of the steps waiting
        self._tickets = 0
        self._waiting = 0  # steps in the queue still waiting (a timed-out one leaves its entry behind)
        self._connecting = 0
        self._size = 0  # connections open or opening

    def start_iteration(self, start: float, index: int, row: tuple[str, ...]) -> None:
        self.begin(start, index, row, None)

    def connection_for(self, it: _Iteration) -> _StepConnection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.broken:
                return conn
            self._size -= 1
            self.drop(conn)
        self._tickets += 1
        it.ticket = self._tickets
        self._queue.append((self._tickets, it))
        self._waiting += 1
        self._open()
        return None

    def stop_waiting(self, it: _Iteration) -> None:
        it.ticket = 0
        self._waiting -= 1

    def _next_waiting(self) -> _Iteration | None:
        queue = self._queue
        while queue:
            ticket, it = queue.popleft()
            if it.ticket == ticket:
                it.ticket = 0
                self._waiting -= 1
                return it
        return None

    def _open(self) -> None:
        while (
            not self.closing
            and self._connecting < self._waiting
            and self._connecting < MAX_CONNECTING
            and self._size < self._limit
        ):
            self._connecting += 1
            self._size += 1
            self.open_connection(self._opened)

    def _opened(self, conn: _StepConnection, outcome: Outcome | None) -> None:
        self._connecting -= 1
        if outcome is None:
            self.connection_done(conn)
            return
        self._size -= 1
        if not self.closing:
            # The connect was opened for a waiting step: that step fails the way the connect did.
            it = self._next_waiting()
            if it is not None:
                self.step_unsent(it, outcome)
        self._open()

    def connection_done(self, conn: _StepConnection) -> None:
        if conn.broken or self.closing:
            self._size -= 1
            self.drop(conn)
            self._open()
            return
        it = self._next_waiting()
        if it is not None:
            self.send(it, conn)
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        self.close_schedule()
        await super().close()


class FastFlowClosedLoop(ClosedSchedule[_Vu], FastFlowDriver):
    """VUs that loop through iterations, each on its own connection."""

    def __init__(self, **common: Any) -> None:
        super().__init__(**common)
        self._starting = 0  # depth of iterations being started (one that ends at once must not recurse)

    def new_vu(self, index: int) -> _Vu:
        return _Vu(index)

    def vu_wanted(self, vu: _Vu) -> None:
        if not vu.looping:
            vu.looping = True
            self._next_iteration(vu)

    def _next_iteration(self, vu: _Vu) -> None:
        if not vu.running or self.exhausted or self.closing:
            self._retire(vu)
            return
        found = self.next_row()
        if found is None:
            self._retire(vu)
            return
        self._starting += 1
        try:
            self.begin(_perf_counter(), *found, vu)
        finally:
            self._starting -= 1

    def _retire(self, vu: _Vu) -> None:
        vu.looping = False
        if vu.conn is not None:
            self.drop(vu.conn)
            vu.conn = None

    def iteration_ended(self, it: _Iteration) -> None:
        vu = it.user
        assert vu is not None
        pause = self.flow.think_time
        if vu.conn is None or vu.conn.broken:
            pause = max(pause, RETRY_AFTER)
        if pause > 0 and vu.running:
            self._sleeper.at(_perf_counter() + pause, partial(self._next_iteration, vu))
        elif self._starting:
            self.loop.call_soon(self._next_iteration, vu)  # it ended without waiting for anything
        else:
            self._next_iteration(vu)

    def connection_for(self, it: _Iteration) -> _StepConnection | None:
        vu = it.user
        assert vu is not None
        conn = vu.conn
        if conn is not None and not conn.broken:
            return conn
        if conn is not None:
            self.drop(conn)
            vu.conn = None
        vu.opening = self.open_connection(partial(self._opened, vu, it))
        return None

    def _opened(self, vu: _Vu, it: _Iteration, conn: _StepConnection, outcome: Outcome | None) -> None:
        wanted = vu.opening is conn
        if wanted:
            vu.opening = None
        # Else the step it was opened for gave up waiting (it timed out); or the run ended (cut, closed).
        wanted = wanted and not it.finished
        if outcome is not None:
            if wanted:
                self.step_unsent(it, outcome)
            return
        if vu.conn is not None and not vu.conn.broken:
            self.drop(conn)  # opened too late: the VU has a connection again
            return
        if vu.conn is not None:
            self.drop(vu.conn)
        vu.conn = conn
        if wanted:
            self.send(it, conn)

    def stop_waiting(self, it: _Iteration) -> None:
        vu = it.user
        assert vu is not None
        conn, vu.opening = vu.opening, None
        if conn is not None and conn.connecting is not None:
            conn.connecting.cancel()

    def connection_done(self, conn: _StepConnection) -> None:
        """The VU keeps its connection; a broken one is replaced at its next step."""

    def cut(self) -> int:
        for vu in self._vus:
            vu.running = False
        return super().cut()

    async def close(self) -> None:
        self.close_schedule()
        await super().close()


__all__ = ["Carrier", "FastFlowClosedLoop", "FastFlowDriver", "FastFlowOpenLoop", "carrier_for"]
