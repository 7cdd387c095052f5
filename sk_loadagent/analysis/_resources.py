"""The target's CPU and memory over the measured window."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats

from sk_loadagent.measurements import ResourceSamples
from sk_loadagent.models.metrics import ResourceUsage


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
    cpu = part.cpu_pct / quota
    return ResourceUsage(
        pid=resources.pid,
        samples=int(part.t.size),
        cpu_avg_pct=float(cpu.mean()),
        cpu_peak_pct=float(cpu.max()),
        memory_avg_mb=float(part.rss_mb.mean()),
        memory_peak_mb=float(part.rss_mb.max()),
        memory_slope_mb_per_min=_slope_per_minute(part.t, part.rss_mb),
        cpu_quota_cores=resources.cpu_quota_cores,
        note="; ".join(notes) or None,
    )


def _slope_per_minute(t: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float | None:
    if t.size < 3 or float(np.ptp(t)) <= 0:
        return None
    slope = float(stats.linregress(t / 60.0, y).slope)
    return slope if math.isfinite(slope) else None
