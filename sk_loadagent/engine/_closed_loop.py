"""The closed-model scheduler (constant- and ramping-vus): virtual users loop request → think → request.

Each VU owns one kept-open connection and sends its next request when the previous one finished and its think
time passed; the request is timed from its actual send (a closed model has no intended start). VU ``j``
runs while the schedule's VU target is above ``j``; a VU told to stop finishes its request first. Worker
``k`` of ``N`` runs VUs ``k, k + N, ...``.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from sk_loadagent.engine._recorder import Recorder
from sk_loadagent.engine._schedule import VuSegment, vus_at
from sk_loadagent.engine._transports.base import Connection, Transport
from sk_loadagent.engine._waker import make_waker
from sk_loadagent.engine.result import Outcome

_perf_counter = time.perf_counter
_RETRY_AFTER = 0.05  # pause before a VU reconnects after a failed connect, so a dead target is not hammered


class _Vu:
    __slots__ = ("conn", "index", "running", "waiting")

    def __init__(self, index: int) -> None:
        self.index = index
        self.conn: Connection | None = None
        self.running = False  # the schedule wants this VU active
        self.waiting = False  # thinking (or backing off) before the next request


class _Switchable(Protocol):
    running: bool


class VuClock:
    """When a closed model's VUs run: from t0 to the schedule's end (or an earlier stop), then none.

    Both VU schedulers (single requests here, flows in ``_flow_loop``) keep their timers this way."""

    _loop: asyncio.AbstractEventLoop
    _segments: list[VuSegment]
    _vus: Sequence[_Switchable]
    _t0: float
    end: float
    exhausted: bool
    _timers: list[asyncio.TimerHandle]

    def start(self, t0: float) -> None:
        self._t0 = t0
        self.end = t0 + self._segments[-1].end
        self._at(t0, lambda: self.tick(_perf_counter()))
        self._at(self.end, self._finish)

    def stop_at(self, when: float) -> None:
        if when < self.end:
            self.end = when
            self._at(when, self._finish)

    def _at(self, when: float, callback: Callable[[], None]) -> None:
        self._timers.append(self._loop.call_later(max(0.0, when - _perf_counter()), callback))

    def _finish(self) -> None:
        """The schedule is over: no VU starts anything again; what is in flight still finishes."""
        self.exhausted = True
        for vu in self._vus:
            vu.running = False

    def tick(self, now: float) -> None:
        raise NotImplementedError


class ClosedLoop(VuClock):
    """Runs one worker's share of the virtual users through a transport."""

    _vus: list[_Vu]

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        transport: Transport,
        recorder: Recorder,
        segments: Sequence[VuSegment],
        worker: int,
        workers: int,
        think_time: float,
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._recorder = recorder
        self._segments = list(segments)
        peak = max(max(s.vus_start, s.vus_end) for s in segments)
        self._vus = [_Vu(j) for j in range(worker, math.ceil(peak - 1e-9), workers)]
        self._think = think_time
        self._t0 = 0.0
        self.end = math.inf
        self.exhausted = False
        self.conns: set[Connection] = set()
        self._wakes: list[tuple[float, int]] = []  # (time, slot) of VUs thinking
        self._waker = make_waker(loop, self._on_wake)
        self._armed = math.inf
        self._timers: list[asyncio.TimerHandle] = []

    async def prepare(self, warm: int) -> None:
        """Nothing to warm: each VU connects when it starts."""

    # -- VU lifecycle --------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Start and stop VUs to follow the schedule (called by the housekeeper)."""
        if now >= self.end:
            self._finish()
            return
        if now < self._t0:
            return
        target = vus_at(self._segments, now - self._t0)
        for slot, vu in enumerate(self._vus):
            wanted = vu.index < target
            if wanted and not vu.running:
                vu.running = True
                if vu.conn is None and not vu.waiting:
                    self._connect(slot)
            elif not wanted and vu.running:
                vu.running = False
                if vu.conn is not None and not vu.conn.busy and not vu.conn.connecting:
                    self._retire(vu)

    def _connect(self, slot: int) -> None:
        conn = self._transport.connect(self)
        conn.tag = slot
        self._vus[slot].conn = conn
        self.conns.add(conn)

    def _retire(self, vu: _Vu) -> None:
        if vu.conn is not None:
            self.conns.discard(vu.conn)
            vu.conn.close()
            vu.conn = None

    def _next(self, slot: int, conn: Connection) -> None:
        vu = self._vus[slot]
        if not vu.running:
            self._retire(vu)
        elif self._think <= 0:
            conn.send_now(0)
        else:
            self._sleep(slot, self._think)

    def _sleep(self, slot: int, seconds: float) -> None:
        when = _perf_counter() + seconds
        self._vus[slot].waiting = True
        heapq.heappush(self._wakes, (when, slot))
        if when < self._armed:
            self._armed = when
            self._waker.wake_at(when)

    def _on_wake(self) -> None:
        now = _perf_counter()
        self._armed = math.inf
        wakes = self._wakes
        while wakes and wakes[0][0] <= now:
            _, slot = heapq.heappop(wakes)
            vu = self._vus[slot]
            vu.waiting = False
            if not vu.running:
                self._retire(vu)
            elif vu.conn is None:
                self._connect(slot)
            elif not vu.conn.busy and not vu.conn.connecting:
                vu.conn.send_now(0)
        if wakes:
            self._armed = wakes[0][0]
            self._waker.wake_at(self._armed)

    # -- connection events ---------------------------------------------------------------------------------
    def on_connected(self, conn: Connection) -> None:
        self._next_after_connect(conn.tag, conn)

    def _next_after_connect(self, slot: int, conn: Connection) -> None:
        vu = self._vus[slot]
        if vu.running:
            conn.send_now(0)
        else:
            self._retire(vu)

    def on_connect_failed(self, conn: Connection, outcome: Outcome, at: float) -> None:
        self.conns.discard(conn)
        vu = self._vus[conn.tag]
        vu.conn = None
        self._recorder.failure(at, at, outcome, 0, 0)
        if vu.running:
            self._sleep(conn.tag, max(self._think, _RETRY_AFTER))

    def on_idle(self, conn: Connection) -> None:
        self._next(conn.tag, conn)

    def on_closed(self, conn: Connection) -> None:
        self.conns.discard(conn)
        vu = self._vus[conn.tag]
        if vu.conn is conn:
            vu.conn = None
        if vu.running and not vu.waiting:
            if self._think > 0:
                self._sleep(conn.tag, self._think)
            else:
                self._connect(conn.tag)

    # -- housekeeping --------------------------------------------------------------------------------------
    def in_flight(self) -> int:
        return sum(1 for c in self.conns if c.busy)

    def sweep(self, now: float, timeout: float) -> None:
        for conn in list(self.conns):
            if conn.busy and now - conn.sent_at > timeout:
                conn.abort(Outcome.TIMEOUT)
            elif conn.connecting and now - conn.started > timeout:
                conn.abort(Outcome.CONNECT_ERROR)

    def unresolved(self) -> list[float]:
        return [c.intended for c in self.conns if c.busy]

    def drained(self) -> bool:
        return self.in_flight() == 0

    def cut(self) -> int:
        for vu in self._vus:
            vu.running = False
        cut = 0
        for conn in list(self.conns):
            if conn.busy:
                cut += 1
                conn.abort(Outcome.TIMEOUT)
        return cut

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._waker.close()
        for conn in list(self.conns):
            conn.close()
        self.conns.clear()
        await self._transport.aclose()
