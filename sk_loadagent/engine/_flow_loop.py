"""Running flows on tasks: iterations of steps, on the open model (a schedule of iterations) or the closed one
(VUs), for any client (HTTP, the surfaces, users' classes). A flow whose steps are all HTTP requests on the
fast client runs on callbacks instead (``_flow_fast``), with the same semantics.

Each iteration is one task that runs its steps in order. Its first step is due at the iteration's start (the
intended start on the open model, the moment a VU begins it on the closed one); each later step is due when
the step before ended plus that step's think time. Every step is timed from the moment it was due, so a step
that waits for a client, or a slow step before it, shows in the figures. An iteration's latency runs from
its start to the end of its last step, less the think time it spent; it fails with its first failing step's
class, and a step with ``onFail: stop`` (the default) that fails ends it.

Clients: on the open model a pool per kind (the HTTP client, each surface's class) hands an idle client to
each step as it comes due, opening new ones up to the connection limit (at most ``MAX_CONNECTING`` at once);
on the closed model each VU keeps its own. A step still unanswered ``timeout`` after it was due is ended as a
timeout by the sweep (every 50 ms), and its client is closed and replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sk_loadagent.engine._flow import BadValue, CompiledStep, IterationState, MissingValue
from sk_loadagent.engine._flow_base import (
    MAX_CONNECTING,
    RETRY_AFTER,
    ClosedSchedule,
    FlowBase,
    OpenSchedule,
    Sleeper,
    step_span,
)
from sk_loadagent.engine._trace import TRACEPARENT
from sk_loadagent.engine.clients.base import Client, Reply, outcome_of
from sk_loadagent.engine.result import Outcome

_perf_counter = time.perf_counter
_NAN = math.nan


_Got = Client | asyncio.Future[Client]


class _Flight:
    """One step call in flight (or waiting for a client): the sweep's handle on it."""

    __slots__ = ("client", "due", "expired", "future", "waiter")

    def __init__(self, due: float) -> None:
        self.due = due
        self.client: Client | None = None
        self.future: asyncio.Future[Any] | None = None
        self.waiter: asyncio.Future[Client] | None = None
        self.expired = False

    def expire(self) -> None:
        self.expired = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.cancel()
        if self.future is not None and not self.future.done():
            abort = getattr(self.client, "abort", None)
            if abort is not None:
                abort(Outcome.TIMEOUT)
            if not self.future.done():
                self.future.cancel()


class _Running:
    """An iteration in progress: what ``cut`` records when the run ends before it does."""

    __slots__ = ("finished", "start", "step", "step_due", "task", "thinking")

    def __init__(self, start: float) -> None:
        self.start = start
        self.step = 0
        self.step_due = start
        self.thinking = False  # between two steps: no step in flight
        self.finished = False
        self.task: asyncio.Task[None] | None = None


class _Pool:
    """Idle clients of one kind, handed to steps as they come due (open model)."""

    def __init__(self, driver: FlowDriver, make: Callable[[], Client], limit: int) -> None:
        self._driver = driver
        self._make = make
        self._limit = limit
        self._idle: list[Client] = []
        self._waiters: deque[asyncio.Future[Client]] = deque()
        self._connecting = 0
        self.size = 0  # open or opening

    def acquire(self, flight: _Flight) -> Client | asyncio.Future[Client]:
        idle = self._idle
        while idle:
            client = idle.pop()
            if not getattr(client, "broken", False):
                return client
            self.size -= 1
        waiter: asyncio.Future[Client] = self._driver.loop.create_future()
        flight.waiter = waiter
        self._waiters.append(waiter)
        self._open()
        return waiter

    def _open(self) -> None:
        waiting = sum(1 for w in self._waiters if not w.done())
        while (
            not self._driver.closing
            and self._connecting < waiting
            and self._connecting < MAX_CONNECTING
            and self.size < self._limit
        ):
            self._connecting += 1
            self.size += 1
            self._driver.spawn(self._connect())

    async def _connect(self) -> None:
        client = self._make()
        try:
            await client.connect(self._driver.target)
        except asyncio.CancelledError:
            self._connecting -= 1
            self.size -= 1
            raise
        except BaseException as exc:
            self._connecting -= 1
            self.size -= 1
            # The connect was opened for a waiting step: that step fails the way the connect did.
            waiter = self._next_waiter()
            if waiter is not None:
                waiter.set_exception(exc)
            self._open()
            return
        self._connecting -= 1
        self.release(client)

    def _next_waiter(self) -> asyncio.Future[Client] | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def release(self, client: Client) -> None:
        if getattr(client, "broken", False) or self._driver.closing:
            self.discard(client)
            return
        waiter = self._next_waiter()
        if waiter is not None:
            waiter.set_result(client)
        else:
            self._idle.append(client)

    def discard(self, client: Client) -> None:
        self.size -= 1
        self._driver.close_client(client)
        self._open()

    def clients(self) -> list[Client]:
        return list(self._idle)


class _Vu:
    """A closed-model VU: its clients by kind, and whether the schedule wants it running."""

    __slots__ = ("clients", "index", "running", "task")

    def __init__(self, index: int) -> None:
        self.index = index
        self.clients: dict[str, Client] = {}
        self.running = False
        self.task: asyncio.Task[None] | None = None


class FlowDriver(FlowBase):
    """What both models share: running an iteration's steps, recording them, the sweep and the ending."""

    def __init__(self, *, makers: dict[str, Callable[[], Client]], **common: Any) -> None:
        super().__init__(**common)
        self.makers = makers
        self._flights: set[_Flight] = set()
        self._running: set[_Running] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing_clients: set[asyncio.Task[None]] = set()
        self._sleeper = Sleeper(self.loop)

    # -- to be provided by a model ---------------------------------------------------------------------------
    def client_for(
        self, step: CompiledStep, vu: _Vu | None, flight: _Flight
    ) -> Client | asyncio.Future[Client]:
        raise NotImplementedError

    def client_done(self, step: CompiledStep, vu: _Vu | None, client: Client) -> None:
        raise NotImplementedError

    # -- an iteration ----------------------------------------------------------------------------------------
    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def spawn_iteration(self, start: float, index: int, row: tuple[str, ...], vu: _Vu | None) -> _Running:
        """An iteration in a task of its own (open model: iterations overlap)."""
        running = _Running(start)
        self._running.add(running)
        running.task = self.spawn(self._iteration(running, index, row, vu))
        return running

    async def run_iteration(self, start: float, index: int, row: tuple[str, ...], vu: _Vu) -> None:
        """An iteration in the calling task (closed model: a VU's iterations follow one another)."""
        running = _Running(start)
        self._running.add(running)
        running.task = asyncio.current_task()
        await self._iteration(running, index, row, vu)

    async def _iteration(self, running: _Running, index: int, row: tuple[str, ...], vu: _Vu | None) -> None:
        it = IterationState(index, vu.index if vu is not None else self.worker, row)
        steps = self.flow.steps
        trace = self.sampled()
        due = running.start
        first_sent = _NAN
        thought = 0.0
        outcome = Outcome.OK
        end = _NAN
        try:
            for step in steps:
                running.step, running.step_due, running.thinking = step.index, due, False
                result, sent, end, known = await self._step(step, it, due, vu, trace)
                if first_sent != first_sent:  # NaN: the first step that was sent
                    first_sent = sent
                if result != Outcome.OK and outcome == Outcome.OK:
                    outcome = result
                if result != Outcome.OK and step.stop_on_fail:
                    break
                if step.index < len(steps) - 1:
                    due = known + step.think
                    if step.think > 0:
                        thought += step.think
                        running.thinking = True
                        await self._sleeper.until(due)
        except asyncio.CancelledError:
            running.finished = True  # by cut(), which recorded it, or by close(): nothing more to record
            raise
        finally:
            self._running.discard(running)
        if running.finished:
            return
        running.finished = True
        if first_sent != first_sent:
            first_sent = running.start
        self.recorder.ended(running.start, first_sent, end - thought, outcome)
        if trace is not None and end == end:  # a sampled iteration that was answered
            self.traced.append((trace, running.start, end - thought))

    async def _step(
        self, step: CompiledStep, it: IterationState, due: float, vu: _Vu | None, trace: bytes | None = None
    ) -> tuple[Outcome, float, float, float]:
        """Run one step: (outcome, sent, end of its reply or NaN, when its end was known)."""
        try:
            call = step.call(it)
            headers = self.trace_headers.get(step.index)
            if headers is not None:
                call.headers += headers
                if trace is not None:  # this step's own span in the iteration's trace
                    call.headers[-len(headers)] = (TRACEPARENT, step_span(trace))
        except (MissingValue, BadValue):
            now = _perf_counter()
            self.steps.record(step.index, due, now, _NAN, Outcome.EXTRACT, 0, 0, 0)
            return Outcome.EXTRACT, now, _NAN, now
        flight = _Flight(due)
        self._flights.add(flight)
        client: Client | None = None
        try:
            got = self.client_for(step, vu, flight)
            if isinstance(got, asyncio.Future):
                flight.waiter = got
                got = await got
            client = got
            flight.waiter = None
            flight.client = client
            sent = _perf_counter()
            called = client.call(call)
            future = flight.future = (
                called if isinstance(called, asyncio.Future) else asyncio.ensure_future(called)
            )
            reply: Reply = await future
        except asyncio.CancelledError:
            if not flight.expired:
                raise
            return self._failed(step, due, client, vu, Outcome.TIMEOUT, None)
        except Exception as exc:
            outcome, message = outcome_of(exc)
            if message is not None:
                self.client_errors[f"{step.client}: {message}"] += 1
            return self._failed(step, due, client, vu, outcome, None if client is None else sent)
        finally:
            self._flights.discard(flight)
        end = _perf_counter() if reply.received is None else reply.received
        outcome, ran, failed = step.judge(reply, it)
        self.steps.record(
            step.index,
            due,
            sent,
            end,
            outcome,
            reply.status or 0,
            reply.bytes_in,
            reply.bytes_out,
            ran,
            failed,
        )
        self.client_done(step, vu, client)
        return outcome, sent, end, end

    def _failed(
        self,
        step: CompiledStep,
        due: float,
        client: Client | None,
        vu: _Vu | None,
        outcome: Outcome,
        sent: float | None,
    ) -> tuple[Outcome, float, float, float]:
        now = _perf_counter()
        self.steps.record(step.index, due, now if sent is None else sent, _NAN, outcome, 0, 0, 0)
        if client is not None:
            setattr_broken(client)
            self.client_done(step, vu, client)
        return outcome, now if sent is None else sent, _NAN, now

    def close_client(self, client: Client) -> None:
        task = self.loop.create_task(_close_quietly(client))
        self._closing_clients.add(task)
        task.add_done_callback(self._closing_clients.discard)

    # -- housekeeping (the worker's supervisor) --------------------------------------------------------------
    def in_flight(self) -> int:
        return len(self._flights)

    def sweep(self, now: float, timeout: float) -> None:
        for flight in list(self._flights):
            if now - flight.due > timeout and not flight.expired:
                flight.expire()

    def cut(self) -> int:
        """At the hard end: each iteration still running ends as a timeout, its step in flight too."""
        self.closing = True
        cut = 0
        for running in list(self._running):
            if running.finished:
                continue
            running.finished = True
            cut += 1
            if not running.thinking:  # the step in flight, or waiting for a client
                self.steps.record(
                    running.step, running.step_due, running.step_due, _NAN, Outcome.TIMEOUT, 0, 0, 0
                )
            self.recorder.ended(running.start, running.start, _NAN, Outcome.TIMEOUT)
            if running.task is not None:
                running.task.cancel()
        return cut

    async def close(self) -> None:
        self.closing = True
        self._sleeper.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self.idle_clients():
            self.close_client(client)
        if self._closing_clients:
            await asyncio.wait(self._closing_clients, timeout=2.0)

    def idle_clients(self) -> list[Client]:
        raise NotImplementedError


def setattr_broken(client: Client) -> None:
    """A client whose call failed is not used again."""
    # A user's client with __slots__ may refuse the attribute: the pools read it with getattr.
    with contextlib.suppress(AttributeError):
        client.broken = True  # type: ignore[attr-defined]


async def _close_quietly(client: Client) -> None:
    try:
        await asyncio.wait_for(client.close(), timeout=2.0)
    except Exception:  # a client that fails to close is gone all the same
        return


class FlowOpenLoop(OpenSchedule, FlowDriver):
    """Iterations on an arrival schedule, each in a task; steps take clients from a pool per kind."""

    def __init__(self, *, max_clients: int, **common: Any) -> None:
        super().__init__(**common)
        self._pools = {key: _Pool(self, make, max_clients) for key, make in self.makers.items()}

    def start_iteration(self, start: float, index: int, row: tuple[str, ...]) -> None:
        self.spawn_iteration(start, index, row, None)

    def client_for(
        self, step: CompiledStep, vu: _Vu | None, flight: _Flight
    ) -> Client | asyncio.Future[Client]:
        return self._pools[step.client].acquire(flight)

    def client_done(self, step: CompiledStep, vu: _Vu | None, client: Client) -> None:
        self._pools[step.client].release(client)

    def idle_clients(self) -> list[Client]:
        return [c for pool in self._pools.values() for c in pool.clients()]

    async def close(self) -> None:
        self.close_schedule()
        await super().close()


class FlowClosedLoop(ClosedSchedule[_Vu], FlowDriver):
    """VUs that loop through iterations in a task each, each with its own clients."""

    def new_vu(self, index: int) -> _Vu:
        return _Vu(index)

    def vu_wanted(self, vu: _Vu) -> None:
        if vu.task is None:
            vu.task = self.spawn(self._vu_loop(vu))

    async def _vu_loop(self, vu: _Vu) -> None:
        try:
            while vu.running and not self.exhausted:
                found = self.next_row()
                if found is None:
                    break
                await self.run_iteration(_perf_counter(), *found, vu)
                pause = self.flow.think_time
                if self._connect_failed(vu):
                    pause = max(pause, RETRY_AFTER)
                if pause > 0 and vu.running:
                    await self._sleeper.until(_perf_counter() + pause)
        finally:
            vu.task = None
            for client in vu.clients.values():
                self.close_client(client)
            vu.clients.clear()

    def _connect_failed(self, vu: _Vu) -> bool:
        return any(getattr(c, "broken", False) for c in vu.clients.values()) or not vu.clients

    def client_for(
        self, step: CompiledStep, vu: _Vu | None, flight: _Flight
    ) -> Client | asyncio.Future[Client]:
        assert vu is not None
        client = vu.clients.get(step.client)
        if client is not None and not getattr(client, "broken", False):
            return client
        if client is not None:
            self.close_client(client)
            del vu.clients[step.client]
        return self.spawn(self._open(step.client, vu))

    async def _open(self, key: str, vu: _Vu) -> Client:
        client = self.makers[key]()
        await client.connect(self.target)
        vu.clients[key] = client
        return client

    def client_done(self, step: CompiledStep, vu: _Vu | None, client: Client) -> None:
        """The VU keeps its client; a broken one is replaced at its next step."""

    def idle_clients(self) -> list[Client]:
        return [c for vu in self._vus for c in vu.clients.values()]

    async def close(self) -> None:
        self.close_schedule()
        await super().close()


__all__ = ["FlowClosedLoop", "FlowDriver", "FlowOpenLoop"]
