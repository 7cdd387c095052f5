"""The intended schedule as piecewise-linear segments: arrival times (open model), VU counts (closed model).

Arrival ``i`` (0-based) of an open model is intended at the time ``t`` where the integral of the rate from
the start reaches ``i``: the first arrival is at the start, a constant rate ``r`` gives ``i / r``, and the
number of arrivals before ``T`` is the integral rounded up. Worker ``k`` of ``N`` takes arrivals
``k, k + N, ...``, so the merged schedule is the single-process one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class RateSegment:
    """The rate goes linearly from ``rate_start`` to ``rate_end`` in [start, end), template ``variant``."""

    start: float
    end: float
    rate_start: float
    rate_end: float
    variant: int = 0

    @property
    def arrivals(self) -> float:
        return (self.rate_start + self.rate_end) / 2.0 * (self.end - self.start)


@dataclass(frozen=True)
class VuSegment:
    """The number of virtual users moves linearly from ``vus_start`` to ``vus_end`` over [start, end)."""

    start: float
    end: float
    vus_start: float
    vus_end: float


class ArrivalSchedule:
    """Intended start times (seconds from t0) of every arrival of an open-model schedule."""

    def __init__(self, segments: Sequence[RateSegment]) -> None:
        if not segments:
            raise ValueError("an arrival schedule needs at least one segment")
        self._start = np.array([s.start for s in segments], dtype=np.float64)
        self._r0 = np.array([s.rate_start for s in segments], dtype=np.float64)
        duration = np.array([s.end - s.start for s in segments], dtype=np.float64)
        # Half the slope of the rate: arrivals after tau seconds are r0*tau + slope2*tau**2.
        self._slope2 = (np.array([s.rate_end for s in segments]) - self._r0) / (2.0 * duration)
        self._variant = np.array([s.variant for s in segments], dtype=np.int16)
        self._cumulative = np.concatenate([[0.0], np.cumsum([s.arrivals for s in segments])])
        self.end = float(segments[-1].end)
        expected = float(self._cumulative[-1])
        self.total = math.ceil(expected - 1e-9) if expected > 0 else 0

    def share(self, worker: int, workers: int) -> int:
        """How many arrivals worker ``worker`` of ``workers`` sends."""
        return len(range(worker, self.total, workers))

    def times(self, index: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int16]]:
        """Intended times and request variants of the arrivals with these global indices (< total)."""
        x_all = index.astype(np.float64)
        segment = np.searchsorted(self._cumulative, x_all, side="right") - 1
        segment = np.clip(segment, 0, self._start.size - 1)
        x = x_all - self._cumulative[segment]
        r0 = self._r0[segment]
        # tau solves r0*tau + slope2*tau**2 = x; this form is stable for rising, falling and zero start rates.
        root = np.sqrt(np.maximum(r0 * r0 + 4.0 * self._slope2[segment] * x, 0.0))
        denominator = r0 + root
        safe = np.where(denominator > 0, denominator, 1.0)
        tau = np.where(denominator > 0, 2.0 * x / safe, 0.0)
        return self._start[segment] + tau, self._variant[segment]

    def chunk(
        self, first: int, stride: int, t0: float, size: int
    ) -> tuple[list[float], list[int], list[int]]:
        """Up to ``size`` arrivals from global index ``first`` on, every ``stride``-th (one worker's share):
        their absolute intended times (``t0`` + offset), variants and global indices."""
        stop = min(self.total, first + stride * size)
        index = np.arange(first, stop, stride, dtype=np.int64)
        times, variants = self.times(index)
        return (times + t0).tolist(), variants.tolist(), index.tolist()

    def arrivals_between(self, start: float, end: float) -> int:
        """Arrivals intended in [start, end)."""
        return self._count_before(end) - self._count_before(start)

    def _count_before(self, t: float) -> int:
        if t <= float(self._start[0]):
            return 0
        if t >= self.end:
            return self.total
        k = int(np.searchsorted(self._start, t, side="right") - 1)
        tau = t - float(self._start[k])
        expected = float(self._cumulative[k]) + float(self._r0[k]) * tau + float(self._slope2[k]) * tau * tau
        return min(self.total, math.ceil(expected - 1e-9))


def vus_at(segments: Sequence[VuSegment], t: float) -> int:
    """Virtual users that should be active at ``t`` (the linear target rounded down); 0 after the end."""
    for s in segments:
        if s.start <= t < s.end:
            fraction = (t - s.start) / (s.end - s.start)
            return math.floor(s.vus_start + (s.vus_end - s.vus_start) * fraction + 1e-9)
    if segments and t < segments[0].start:
        return math.floor(segments[0].vus_start + 1e-9)
    return 0
