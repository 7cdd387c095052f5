"""The target's CPU and memory over the measured window."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats

from sk_loadagent.measurements import ResourceSamples
from sk_loadagent.models.metrics import ResourceUsage

CPU_HIGH_PCT = 80.0  # cycle 10: CPU above 80 % for more than CPU_HIGH_SECONDS suggests a warmed-cache retry
CPU_HIGH_SECONDS = 10.0


def resource_usage(resources: ResourceSamples, wall_start: float, wall_end: float) -> ResourceUsage:
    """CPU figures are percent of the CPU quota (``cpu_pct / cpu_quota_cores``), so 100 means every core
    the service may use was busy; memory is RSS in MB with its least-squares slope per minute."""
    part = resources.between(wall_start, wall_end)
    notes = list(resources.notes)
    quota = resources.cpu_quota_cores if resources.cpu_quota_cores > 0 else 1.0
    if resources.cpu_quota_cores <= 0:
        notes.append("no CPU quota known: CPU is in percent of one core")
    if part.t.size == 0:
        notes.append("no resource samples in the measured window")
        return ResourceUsage(
            pid=resources.pid, samples=0, cpu_quota_cores=resources.cpu_quota_cores, note="; ".join(notes)
        )
    # A scraped target may expose CPU without memory or the other way round: NaN marks what was not there.
    has_cpu = np.isfinite(part.cpu_pct)
    cpu = part.cpu_pct[has_cpu] / quota
    has_rss = np.isfinite(part.rss_mb)
    rss_t, rss = part.t[has_rss], part.rss_mb[has_rss]
    return ResourceUsage(
        pid=resources.pid or None,
        samples=int(part.t.size),
        cpu_avg_pct=float(cpu.mean()) if cpu.size else None,
        cpu_peak_pct=float(cpu.max()) if cpu.size else None,
        memory_avg_mb=float(rss.mean()) if rss.size else None,
        memory_peak_mb=float(rss.max()) if rss.size else None,
        memory_slope_mb_per_min=_slope_per_minute(rss_t, rss),
        cpu_high_seconds=_longest_above(part.t[has_cpu], cpu, CPU_HIGH_PCT) if cpu.size else None,
        cpu_quota_cores=resources.cpu_quota_cores,
        note="; ".join(notes) or None,
    )


def gc_and_queue(
    t: npt.NDArray[np.float64],
    gc_collections: npt.NDArray[np.float64],
    queue_depth: npt.NDArray[np.float64],
    wall_start: float,
    wall_end: float,
) -> dict[str, float | int]:
    """GC collections per second (and their count) and queue depth (mean, peak) over the measured window,
    from scrapes at wall-clock times ``t`` of a collections counter and a depth gauge (NaN: not exposed)."""
    keep = (t >= wall_start) & (t <= wall_end)
    figures: dict[str, float | int] = {}
    gc_t, gc = t[keep], gc_collections[keep]
    finite = np.isfinite(gc)
    gc_t, gc = gc_t[finite], gc[finite]
    if gc.size >= 2 and gc_t[-1] > gc_t[0] and gc[-1] >= gc[0]:
        figures["gc_activity_count"] = int(np.rint(gc[-1] - gc[0]))
        figures["gc_collections_per_sec"] = float((gc[-1] - gc[0]) / (gc_t[-1] - gc_t[0]))
    depth = queue_depth[keep]
    depth = depth[np.isfinite(depth)]
    if depth.size:
        figures["queue_depth_avg"] = float(depth.mean())
        figures["queue_depth_peak"] = float(depth.max())
    return figures


def _longest_above(t: npt.NDArray[np.float64], values: npt.NDArray[np.float64], limit: float) -> float:
    """The longest stretch of consecutive samples above ``limit``, in seconds (a sample at ``t`` covers the
    interval since the previous one)."""
    longest = 0.0
    since: float | None = None
    previous = float(t[0]) if t.size else 0.0
    for at, value in zip(t.tolist(), values.tolist(), strict=True):
        if value > limit:
            since = previous if since is None else since
            longest = max(longest, at - since)
        else:
            since = None
        previous = at
    return longest


def _slope_per_minute(t: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float | None:
    if t.size < 3 or float(np.ptp(t)) <= 0:
        return None
    slope = float(stats.linregress(t / 60.0, y).slope)
    return slope if math.isfinite(slope) else None
