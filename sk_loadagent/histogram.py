"""A mergeable log-bucketed latency histogram with a bounded relative error.

Bucket ``i`` holds values ``v`` (in microseconds) with ``gamma**(i-1) < v <= gamma**i`` where
``gamma = (1 + a) / (1 - a)``; reporting ``2 * gamma**i / (gamma + 1)`` for a bucket is then within a
relative error ``a`` of every value in it (the DDSketch construction). Merging two histograms adds
their counts, so merged percentiles are exactly as accurate as single-process ones.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

RELATIVE_ERROR = 0.01
_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
_MIN_US = 1.0  # values at or below 1 microsecond share bucket 0
_MAX_US = 3600e6  # an hour; longer values are clamped into the last bucket
NBINS = math.ceil(math.log(_MAX_US) / _LOG_GAMMA) + 1

FloatArray = npt.NDArray[np.float64]


def bucket_index(seconds: FloatArray) -> npt.NDArray[np.intp]:
    us = np.clip(seconds * 1e6, _MIN_US, _MAX_US)
    index: npt.NDArray[np.intp] = np.ceil(np.log(us) / _LOG_GAMMA - 1e-9).astype(np.intp)
    return index


def bucket_value(index: npt.NDArray[np.intp] | int) -> FloatArray:
    """Representative value of a bucket, in seconds."""
    return np.asarray(2.0 * np.power(_GAMMA, index) / (_GAMMA + 1.0) / 1e6, dtype=np.float64)


class LatencyHistogram:
    """Counts of latencies (seconds) per log bucket, plus the exact count, sum, min and max."""

    __slots__ = ("counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts: npt.NDArray[np.int64] = np.zeros(NBINS, dtype=np.int64)
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    @classmethod
    def from_values(cls, seconds: FloatArray) -> LatencyHistogram:
        h = cls()
        h.add_values(seconds)
        return h

    def add_values(self, seconds: FloatArray) -> None:
        values = np.asarray(seconds, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return
        self.counts += np.bincount(bucket_index(values), minlength=NBINS)[:NBINS]
        self.total += float(values.sum())
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))

    def merge(self, other: LatencyHistogram) -> None:
        self.counts += other.counts
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def mean(self) -> float | None:
        n = self.count
        return self.total / n if n else None

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile (the bucket of the ceil(q*n)-th smallest value), clamped to [min, max]."""
        values = self.quantiles([q])
        return values[0]

    def quantiles(self, qs: list[float]) -> list[float | None]:
        n = self.count
        if n == 0:
            return [None for _ in qs]
        cumulative = np.cumsum(self.counts)
        out: list[float | None] = []
        for q in qs:
            rank = max(1, math.ceil(q * n))
            index = int(np.searchsorted(cumulative, rank))
            value = float(bucket_value(index))
            out.append(min(max(value, self.min), self.max))
        return out

    def to_sparse(self) -> dict[str, Any]:
        """A compact JSON-ready form: only the non-empty buckets."""
        nz = np.flatnonzero(self.counts)
        return {
            "relativeError": RELATIVE_ERROR,
            "index": nz.tolist(),
            "count": self.counts[nz].tolist(),
            "sum": self.total,
            "min": None if self.count == 0 else self.min,
            "max": None if self.count == 0 else self.max,
        }

    @classmethod
    def from_sparse(cls, data: dict[str, Any]) -> LatencyHistogram:
        if abs(float(data.get("relativeError", RELATIVE_ERROR)) - RELATIVE_ERROR) > 1e-12:
            raise ValueError("histogram was stored with a different relative error")
        h = cls()
        index = np.asarray(data.get("index", []), dtype=np.intp)
        count = np.asarray(data.get("count", []), dtype=np.int64)
        if index.shape != count.shape or (index.size and (index.min() < 0 or index.max() >= NBINS)):
            raise ValueError("histogram buckets are malformed")
        np.add.at(h.counts, index, count)
        h.total = float(data.get("sum", 0.0))
        if data.get("min") is not None:
            h.min = float(data["min"])
        if data.get("max") is not None:
            h.max = float(data["max"])
        return h

    def bucket_values(self) -> FloatArray:
        """Representative value (seconds) of every bucket, aligned with ``counts``."""
        return bucket_value(np.arange(NBINS))
