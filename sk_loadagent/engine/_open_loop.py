"""The open-model scheduler (constant- and ramping-arrival-rate): every request starts on schedule.

Arrival times come from the schedule in numpy chunks; a precise waker fires at the next due time and sends
every request whose time has come, at least ``MIN_GAP`` apart so high rates are batched. A due request takes
an idle connection; without one it waits in a bounded queue while a new connection is opened for it (up to
``max_connections``, at most ``MAX_CONNECTING`` handshakes at once) and leaves on whichever connection is
free first. It is timed from its intended start in every case. A request that finds the queue full, or is
still queued when the run ends, is dropped (never sent) and counted; a failed connect fails the request at
the head of the queue with that outcome.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

from sk_loadagent.engine._recorder import Recorder
from sk_loadagent.engine._schedule import ArrivalSchedule
from sk_loadagent.engine._transports.base import Connection, Transport
from sk_loadagent.engine._waker import Waker, make_waker
from sk_loadagent.engine.result import Outcome

_perf_counter = time.perf_counter
MIN_GAP = 0.0002  # at most 5,000 wake-ups a second; lateness from batching stays under 0.2 ms
_CHUNK = 4096  # arrivals computed per numpy call
MAX_CONNECTING = 32  # parallel handshakes: after a stall, a burst must not turn into a connect storm


class ArrivalClock:
    """When an open model's arrivals are due: one worker's share of the schedule, computed in chunks, from t0
    to the schedule's end (or an earlier stop), with the waker that fires at the next one.

    Both open-model schedulers (single requests here, flows in ``_flow_base``) keep their arrivals this way;
    each sends what is due in its own ``_on_wake``, reading ``_times`` (absolute intended times),
    ``_variants`` and ``_indices`` (global arrival indices) from ``_i`` on."""

    _schedule: ArrivalSchedule
    _stride: int
    _next_index: int
    _t0: float
    end: float  # absolute time the schedule ends (earlier when stopped)
    exhausted: bool
    _times: list[float]
    _variants: list[int]
    _indices: list[int]
    _i: int
    _waker: Waker

    def _set_arrivals(
        self, loop: asyncio.AbstractEventLoop, schedule: ArrivalSchedule, worker: int, workers: int
    ) -> None:
        self._schedule = schedule
        self._stride = workers
        self._next_index = worker
        self._t0 = 0.0
        self.end = math.inf
        self.exhausted = False
        self._times, self._variants, self._indices = [], [], []
        self._i = 0
        self._waker = make_waker(loop, self._on_wake)

    def start(self, t0: float) -> None:
        self._t0 = t0
        self.end = t0 + self._schedule.end
        self._refill()
        if self._times:
            self._waker.wake_at(self._times[0])
        else:
            self.exhausted = True

    def stop_at(self, when: float) -> None:
        """Start nothing intended at or after ``when`` (absolute): the parent ended the run early."""
        self.end = min(self.end, when)
        if not self.exhausted and self._i < len(self._times):
            # Wake by the stop time even if the next arrival is much later, so the run ends on time.
            self._waker.wake_at(min(self._times[self._i], self.end))

    def _refill(self) -> bool:
        if self._next_index >= self._schedule.total:
            return False
        self._times, self._variants, self._indices = self._schedule.chunk(
            self._next_index, self._stride, self._t0, _CHUNK
        )
        self._next_index = self._indices[-1] + self._stride
        self._i = 0
        return True

    def _on_wake(self) -> None:
        raise NotImplementedError


class OpenLoop(ArrivalClock):
    """Sends one worker's share of an arrival schedule through a transport."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        transport: Transport,
        recorder: Recorder,
        schedule: ArrivalSchedule,
        worker: int,
        workers: int,
        max_connections: int,
        queue_limit: int,
    ) -> None:
        self._set_arrivals(loop, schedule, worker, workers)
        self._loop = loop
        self._transport = transport
        self._recorder = recorder
        self._max_connections = max_connections
        self._queue_limit = queue_limit
        self.conns: set[Connection] = set()
        self._idle: list[Connection] = []
        self._queue: deque[tuple[float, int]] = deque()
        self._connecting = 0
        self._closing = False

    # -- setup ---------------------------------------------------------------------------------------------
    async def prepare(self, warm: int, deadline: float = 5.0) -> None:
        """Open ``warm`` connections before the start so the first requests do not wait for a handshake."""
        for _ in range(min(warm, self._max_connections)):
            self._open()
        limit = _perf_counter() + deadline
        while self._connecting and _perf_counter() < limit:
            await asyncio.sleep(0.005)

    # -- scheduling ----------------------------------------------------------------------------------------
    def _on_wake(self) -> None:
        now = _perf_counter()
        times = self._times
        variants = self._variants
        i = self._i
        idle = self._idle
        end = self.end
        while True:
            if i >= len(times):
                if not self._refill():
                    self.exhausted = True
                    break
                times, variants, i = self._times, self._variants, 0
            t = times[i]
            if t >= end:
                self.exhausted = True
                break
            if t > now:
                break
            if idle:
                idle.pop().send(t, variants[i])
            else:
                self._dispatch_without_idle(t, variants[i])
            i += 1
        self._i = i
        self._recorder.note_in_flight(now, self.in_flight())
        if not self.exhausted:
            self._waker.wake_at(max(times[i], now + MIN_GAP))

    def _dispatch_without_idle(self, intended: float, variant: int) -> None:
        if len(self._queue) >= self._queue_limit:
            self._recorder.dropped(intended)
            return
        self._queue.append((intended, variant))
        self._open_for_queue()

    def _open_for_queue(self) -> None:
        """One handshake per queued request, within the connection limit and the parallel-handshake cap."""
        while (
            not self._closing
            and self._connecting < len(self._queue)
            and self._connecting < MAX_CONNECTING
            and len(self.conns) < self._max_connections
        ):
            self._open()

    def _open(self) -> None:
        self._connecting += 1
        self.conns.add(self._transport.connect(self))

    # -- connection events ---------------------------------------------------------------------------------
    def on_connected(self, conn: Connection) -> None:
        self._connecting -= 1
        self.on_idle(conn)

    def on_connect_failed(self, conn: Connection, outcome: Outcome, at: float) -> None:
        self._connecting -= 1
        self.conns.discard(conn)
        if self._queue and not self._closing:
            # The handshake was opened for a queued request: that request fails the way the connect did.
            intended, variant = self._queue.popleft()
            self._recorder.failure(intended, at, outcome, 0, variant)
        self._open_for_queue()

    def on_idle(self, conn: Connection) -> None:
        if self._queue:
            conn.send(*self._queue.popleft())
        else:
            self._idle.append(conn)

    def on_closed(self, conn: Connection) -> None:
        self.conns.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        self._open_for_queue()

    # -- housekeeping --------------------------------------------------------------------------------------
    def in_flight(self) -> int:
        return len(self.conns) - len(self._idle) - self._connecting

    def sweep(self, now: float, timeout: float) -> None:
        """End requests (and connect attempts) older than ``timeout``; their connections are replaced."""
        for conn in list(self.conns):
            if conn.busy and now - conn.sent_at > timeout:
                conn.abort(Outcome.TIMEOUT)
            elif conn.connecting and now - conn.started > timeout:
                conn.abort(Outcome.CONNECT_ERROR)

    def unresolved(self) -> list[float]:
        """Intended starts (absolute) of requests sent or queued but not finished."""
        starts = [c.intended for c in self.conns if c.busy]
        starts += [t for t, _ in self._queue]
        return starts

    def drained(self) -> bool:
        return not self._queue and self.in_flight() == 0 and self._connecting == 0

    def cut(self) -> int:
        """At the hard end: requests in flight become timeouts, queued ones are dropped. Returns the cut."""
        self._closing = True
        while self._queue:
            self._recorder.dropped(self._queue.popleft()[0])
        cut = 0
        for conn in list(self.conns):
            if conn.busy:
                cut += 1
            if conn.busy or conn.connecting:
                conn.abort(Outcome.TIMEOUT)
        return cut

    async def close(self) -> None:
        self._waker.close()
        for conn in list(self.conns):
            conn.close()
        self.conns.clear()
        self._idle.clear()
        await self._transport.aclose()
