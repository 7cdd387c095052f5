"""Nearest-rank percentiles from raw samples or from a LatencyHistogram, as a LatencySummary in ms."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.models.metrics import LatencySummary

FloatArray = npt.NDArray[np.float64]

SUMMARY_QUANTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
)


def nearest_rank(sorted_values: FloatArray, q: float) -> float:
    """The ceil(q*n)-th smallest value (1-based): always an observed value, never an interpolation."""
    n = sorted_values.size
    rank = max(1, math.ceil(q * n - 1e-9))
    return float(sorted_values[min(rank, n) - 1])


def summary_from_seconds(seconds: FloatArray) -> LatencySummary | None:
    """Percentiles, min, max and mean in ms of the finite values; None when there are none."""
    values = np.sort(seconds[np.isfinite(seconds)]) * 1000.0
    if values.size == 0:
        return None
    figures = {name: nearest_rank(values, q) for name, q in SUMMARY_QUANTILES}
    return LatencySummary(**figures, max=float(values[-1]), min=float(values[0]), mean=float(values.mean()))


def summary_from_histogram(histogram: LatencyHistogram) -> LatencySummary | None:
    """The same figures from a histogram (each within histogram.RELATIVE_ERROR); None when it is empty."""
    if histogram.count == 0:
        return None
    values = histogram.quantiles([q for _, q in SUMMARY_QUANTILES])
    figures = {
        name: None if v is None else v * 1000.0
        for (name, _), v in zip(SUMMARY_QUANTILES, values, strict=True)
    }
    mean = histogram.mean()
    return LatencySummary(
        **figures,
        max=histogram.max * 1000.0,
        min=histogram.min * 1000.0,
        mean=None if mean is None else mean * 1000.0,
    )


def p95_seconds(seconds: FloatArray) -> float | None:
    values = np.sort(seconds[np.isfinite(seconds)])
    return nearest_rank(values, 0.95) if values.size else None
