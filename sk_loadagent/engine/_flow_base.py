"""What both ways of running a flow share: the run's figures, trace context per step, the open model's
schedule of iterations and precise sleeps.

A flow runs on one of two drivers with the same semantics (``_flow_loop``: a task per iteration, for any
client; ``_flow_fast``: callbacks only, when every step is an HTTP request on the fast client). Both start
iterations from the schedule here (open model) or from ``VuClock`` (closed model), and record into the same
recorders.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from sk_loadagent.engine._closed_loop import VuClock
from sk_loadagent.engine._flow import HTTP, CompiledFlow
from sk_loadagent.engine._open_loop import MAX_CONNECTING, MIN_GAP, ArrivalClock
from sk_loadagent.engine._recorder import Recorder
from sk_loadagent.engine._schedule import ArrivalSchedule, VuSegment, vus_at
from sk_loadagent.engine._step_recorder import StepRecorder
from sk_loadagent.engine._trace import TRACEPARENT, TraceContext, sampled_ids, sampled_value
from sk_loadagent.engine._waker import make_waker
from sk_loadagent.engine.clients.base import ClientTarget

_perf_counter = time.perf_counter
RETRY_AFTER = 0.05  # a VU pauses this long after its iteration failed to connect


class Sleeper:
    """Precise sleeps (think times, a VU's pauses) on one waker: a heap of due times and what to call then."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._armed = math.inf
        self._waker = make_waker(loop, self._on_wake)

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), callback))
        if when < self._armed:
            self._armed = when
            self._waker.wake_at(when)

    def until(self, when: float) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        self.at(when, partial(_resolve, future))
        return future

    def _on_wake(self) -> None:
        now = _perf_counter()
        heap = self._heap
        self._armed = math.inf
        while heap and heap[0][0] <= now:
            heapq.heappop(heap)[2]()
        if heap:
            self._armed = heap[0][0]
            self._waker.wake_at(self._armed)

    def close(self) -> None:
        """Nothing more wakes (the drivers end what was waiting themselves)."""
        self._waker.close()
        self._heap.clear()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class FlowBase:
    """What a flow driver keeps whichever way it runs: the flow, the recorders, trace sampling, the ending."""

    _running: set[Any]  # each driver's iterations started and not ended (each has its ``start``)

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        flow: CompiledFlow,
        target: ClientTarget,
        recorder: Recorder,
        steps: StepRecorder,
        worker: int,
        workers: int,
        trace: TraceContext | None = None,
    ) -> None:
        self.loop = loop
        self.flow = flow
        # Trace context per HTTP step (a step with its own traceparent keeps it): the unsampled headers, and
        # one iteration in ``every`` sampled, its steps sharing a trace id, each step a span of its own.
        self.trace_headers: dict[int, list[tuple[str, str]]] = {}
        if trace is not None:
            for step in flow.steps:
                own = {name.lower() for name, _ in step.headers}
                if step.client == HTTP and TRACEPARENT not in own:
                    self.trace_headers[step.index] = list(trace.headers(step=step.name))
        self.every = trace.every if trace is not None and self.trace_headers else 0
        self.countdown = self.every or -1
        self.traced: list[tuple[bytes, float, float]] = []  # (ids, intended start, end) of sampled iterations
        self.target = target
        self.recorder = recorder
        self.steps = steps
        self.worker = worker
        self.workers = workers
        self.closing = False
        self.end = math.inf
        self.exhausted = False
        self.data_out: tuple[int, float] | None = (
            None  # (iterations started, seconds from t0) when unique ran out
        )
        self.client_errors: Counter[str] = Counter()
        self._t0 = 0.0

    def sampled(self) -> bytes | None:
        """The trace ids of the iteration starting now when it is one of the sampled, else None."""
        self.countdown -= 1
        if self.countdown:
            return None
        self.countdown = self.every
        return sampled_ids()

    async def prepare(self, warm: int) -> None:
        """Nothing to warm: clients open as the first steps come due (and their wait counts)."""

    def start(self, t0: float) -> None:
        raise NotImplementedError

    def stop_at(self, when: float) -> None:
        self.end = min(self.end, when)

    def in_flight(self) -> int:
        raise NotImplementedError

    def sweep(self, now: float, timeout: float) -> None:
        raise NotImplementedError

    def unresolved(self) -> list[float]:
        """The starts of the iterations still running."""
        return [it.start for it in self._running]

    def drained(self) -> bool:
        return not self._running

    def cut(self) -> int:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def step_span(trace: bytes) -> str:
    """A sampled iteration's step: its own span in the iteration's trace, as a traceparent value."""
    return sampled_value(trace[:32] + sampled_ids()[32:]).decode("ascii")


class OpenSchedule(ArrivalClock, FlowBase):
    """Iterations on an arrival schedule: iteration ``k`` of the schedule starts at its intended time."""

    def __init__(self, *, schedule: ArrivalSchedule, **common: Any) -> None:
        super().__init__(**common)
        self._set_arrivals(self.loop, schedule, self.worker, self.workers)

    def start_iteration(self, start: float, index: int, row: tuple[str, ...]) -> None:
        raise NotImplementedError

    def _on_wake(self) -> None:
        now = _perf_counter()
        rows = self.flow.rows
        i = self._i
        while not self.exhausted:
            if i >= len(self._times):
                if not self._refill():
                    self.exhausted = True
                    break
                i = 0
            t = self._times[i]
            if t >= self.end:
                self.exhausted = True
                break
            if t > now:
                break
            index = self._indices[i]
            row = rows.row(index)
            if row is None:
                self.data_out = (index, t - self._t0)
                self.exhausted = True
                self.end = t
                break
            self.start_iteration(t, index, row)
            i += 1
        self._i = i
        self.recorder.note_in_flight(now, self.in_flight())
        if not self.exhausted:
            self._waker.wake_at(max(self._times[i], now + MIN_GAP))

    def close_schedule(self) -> None:
        self._waker.close()


class _Vu(Protocol):
    index: int
    running: bool


V = TypeVar("V", bound=_Vu)


class ClosedSchedule(VuClock, FlowBase, Generic[V]):
    """VUs that loop through iterations: VU ``j`` runs while the schedule's VU target is above ``j`` (worker
    ``k`` of ``N`` runs VUs ``k, k + N, ...``) and finishes its iteration when told to stop."""

    _vus: list[V]

    def __init__(self, *, segments: Sequence[VuSegment], **common: Any) -> None:
        super().__init__(**common)
        self._loop = self.loop
        self._segments = list(segments)
        peak = max(max(s.vus_start, s.vus_end) for s in segments)
        self._vus = [self.new_vu(j) for j in range(self.worker, math.ceil(peak - 1e-9), self.workers)]
        self._count = 0  # iterations this worker started: its global indexes are worker + workers * count
        self._timers: list[asyncio.TimerHandle] = []

    def new_vu(self, index: int) -> V:
        raise NotImplementedError

    def vu_wanted(self, vu: V) -> None:
        """The schedule wants the VU running again: it loops through iterations unless it still does."""
        raise NotImplementedError

    def tick(self, now: float) -> None:
        if now >= self.end:
            self._finish()
            return
        if now < self._t0 or self.exhausted:
            return
        target = vus_at(self._segments, now - self._t0)
        for vu in self._vus:
            wanted = vu.index < target
            if wanted and not vu.running:
                vu.running = True
                self.vu_wanted(vu)
            elif not wanted and vu.running:
                vu.running = False

    def next_row(self) -> tuple[int, tuple[str, ...]] | None:
        """The next iteration's index and data row; None when ``unique`` rows ran out (the schedule ends)."""
        index = self.worker + self.workers * self._count
        row = self.flow.rows.row(index)
        if row is None:
            self.data_out = (index, _perf_counter() - self._t0)
            self._finish()
            return None
        self._count += 1
        return index, row

    def close_schedule(self) -> None:
        for timer in self._timers:
            timer.cancel()


__all__ = [
    "MAX_CONNECTING",
    "RETRY_AFTER",
    "ClosedSchedule",
    "FlowBase",
    "OpenSchedule",
    "Sleeper",
    "step_span",
]
