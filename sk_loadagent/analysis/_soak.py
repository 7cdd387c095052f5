"""The soak report: does latency or memory drift upwards over a long run?"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from sk_loadagent.measurements import ResourceSamples
from sk_loadagent.models.metrics import SoakReport, SoakWindow

from ._format import number, p_value, signed_pct
from ._run_view import RunView

SLOPE_ALPHA = 0.01
LATENCY_DRIFT = 0.10
MEMORY_DRIFT = 0.05
_MIN_WINDOWS = 3


def soak_report(
    view: RunView, start: float, end: float, window: float, resources: ResourceSamples | None
) -> SoakReport:
    """Windows of ``window`` seconds over the measured stretch ``[start, end)``.

    A trailing piece shorter than half a window is left out so a 5-second stub cannot swing a slope.
    """
    windows: list[SoakWindow] = []
    t = start
    while t < end and (min(t + window, end) - t) >= window / 2:
        b = min(t + window, end)
        fig = view.figures([(t, b)])
        memory = None
        if resources is not None:
            part = resources.between(view.result.started_at + t, view.result.started_at + b)
            memory = float(part.rss_mb.mean()) if part.rss_mb.size else None
        windows.append(
            SoakWindow(
                start=t,
                end=b,
                p95=fig.p95,
                rps=fig.rps or 0.0,
                error_rate=fig.error_rate or 0.0,
                memory_mb=memory,
            )
        )
        t = b
    latency = _trend(windows, [w.p95 for w in windows], LATENCY_DRIFT)
    memory_trend = _trend(windows, [w.memory_mb for w in windows], MEMORY_DRIFT)
    return SoakReport(
        window=window,
        windows=windows,
        latency_slope_ms_per_min=latency.slope,
        latency_slope_p_value=latency.p,
        memory_slope_mb_per_min=memory_trend.slope,
        memory_slope_p_value=memory_trend.p,
        degrading=latency.degrading or memory_trend.degrading,
        verdict=_verdict(len(windows), latency, memory_trend),
    )


class _Trend:
    def __init__(self, slope: float | None, p: float | None, drift: float | None, degrading: bool) -> None:
        self.slope = slope
        self.p = p
        self.drift = drift
        self.degrading = degrading


def _trend(windows: list[SoakWindow], values: list[float | None], max_drift: float) -> _Trend:
    """Least-squares slope per minute; degrading when significant (p < 0.01), upwards, and the fitted
    drift over the run exceeds ``max_drift`` of the fitted starting level."""
    points = [((w.start + w.end) / 120.0, v) for w, v in zip(windows, values, strict=True) if v is not None]
    if len(points) < _MIN_WINDOWS:
        return _Trend(None, None, None, False)
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    fit = stats.linregress(x, y)
    slope = float(fit.slope)
    p = float(fit.pvalue) if math.isfinite(fit.pvalue) else 1.0
    start_level = float(fit.intercept) + slope * float(x[0])
    drift = slope * float(x[-1] - x[0]) / start_level if start_level > 0 else None
    degrading = p < SLOPE_ALPHA and slope > 0 and drift is not None and drift > max_drift
    return _Trend(slope, p, drift, degrading)


def _describe(name: str, unit: str, trend: _Trend, max_drift: float) -> str:
    if trend.slope is None or trend.p is None:
        return f"{name}: not measured"
    drift = "" if trend.drift is None else f", {signed_pct(trend.drift)} over the run"
    text = f"{name} {'+' if trend.slope >= 0 else ''}{trend.slope:.3g} {unit}/min ({p_value(trend.p)}{drift})"
    if trend.degrading:
        return text + f" > {number(max_drift * 100)} % drift"
    return text


def _verdict(count: int, latency: _Trend, memory: _Trend) -> str:
    if count < _MIN_WINDOWS:
        return f"too few windows ({count}) to judge a trend; run longer or use a shorter window"
    parts = [_describe("p95", "ms", latency, LATENCY_DRIFT), _describe("memory", "MB", memory, MEMORY_DRIFT)]
    if latency.degrading or memory.degrading:
        return "degrading: " + "; ".join(parts)
    return "stable (no significant upward drift): " + "; ".join(parts)
