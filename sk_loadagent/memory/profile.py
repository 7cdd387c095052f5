"""The load profile key: runs are compared only with runs that put the same load on the service.

A p95 measured at 5 rps says nothing about one at 50 rps, so the memory series of a scope (edition, module,
test type, endpoint) is split by this key, and a baseline serves only runs of its own key. The key is built
from what perf-metrics.json stores, so it is the same for a new run and for a run stored before keys
existed (the schema 3 migration derives it the same way):

- **rate**: the highest mean target rate of a measured phase (a ramp's mean is half its peak), to two
  significant figures (``open 100 rps``), or the VUs of a closed model (``closed 50 VUs``);
- **shape**: the measured phases in order, each with its level as a share of that peak when it is lower
  (``spike, recovery at 10%``); unmeasured ramp-up and warm-up are left out, so a warm-start retry keeps
  its key;
- **duration class**: the measured seconds in classes (under 15 s, 15 s–1 min, 1–5 min, 5–30 min,
  30 min–2 h, 2 h or more), so a test lengthened from 40 s to 50 s keeps its history.

A flow's key ends with its steps (``; flow login > add-item > submit``): a flow given another step is
another measurement, and starts a series of its own.

A stress test stops where the service breaks, so its key is its design limit and its first step (rate and
step duration): ``stress to 400 rps: steps from 100 rps, 10s each``. A run without phases falls back to its
target rate and duration; with neither, the key is None (an unknown profile), which is a value of its own:
such runs (another agent's perf-baseline entries, say) are compared only with each other.
"""

from __future__ import annotations

from sk_loadagent.models.durations import format_duration
from sk_loadagent.models.metrics import PerfMetrics, PhaseSummary

DURATION_CLASSES: tuple[tuple[float, str], ...] = (
    (15.0, "under 15 s"),
    (60.0, "15 s–1 min"),
    (300.0, "1–5 min"),
    (1800.0, "5–30 min"),
    (7200.0, "30 min–2 h"),
)
LONGEST_CLASS = "2 h or more"
_AT_PEAK = 0.95


def load_profile_key(metrics: PerfMetrics) -> str | None:
    """The key of the load ``metrics`` was measured under (see the module docstring), None when unknown."""
    key = _load_key(metrics)
    if key is not None and metrics.steps:
        # A flow with other steps is another measurement: its iterations are not comparable.
        key += "; flow " + " > ".join(s.name for s in metrics.steps)
    return key


def _load_key(metrics: PerfMetrics) -> str | None:
    if metrics.test_type == "stress" or metrics.stress is not None:
        return _stress_key(metrics)
    measured = [p for p in metrics.phases or [] if p.measured and p.end > p.start]
    if measured:
        return _phases_key(measured)
    if metrics.target_rps and metrics.test_duration:
        return f"open {_rate(metrics.target_rps)} rps; {duration_class(metrics.test_duration)}"
    return None


def duration_class(seconds: float) -> str:
    for upper, label in DURATION_CLASSES:
        if seconds < upper:
            return label
    return LONGEST_CLASS


def _phases_key(measured: list[PhaseSummary]) -> str | None:
    if any(p.target_rps is not None for p in measured):
        levels = [p.target_rps or 0.0 for p in measured]
        level = f"open {_rate(max(levels))} rps"
    else:
        levels = [float(p.target_vus or 0) for p in measured]
        level = f"closed {max(levels):g} VUs"
    peak = max(levels)
    if peak <= 0:
        return None
    shape = ", ".join(_shape_part(p.name, share / peak) for p, share in zip(measured, levels, strict=True))
    seconds = sum(p.end - p.start for p in measured)
    return f"{level}: {shape}; {duration_class(seconds)}"


def _stress_key(metrics: PerfMetrics) -> str | None:
    steps = sorted((p for p in metrics.phases or [] if p.name.startswith("step-")), key=lambda p: p.start)
    design = metrics.stress.design_limit_rps if metrics.stress is not None else None
    head = f"stress to {_rate(design)} rps" if design else "stress"
    if not steps or not steps[0].target_rps:
        return head if design else None
    first = steps[0]
    each = format_duration(first.end - first.start)
    return f"{head}: steps from {_rate(first.target_rps or 0.0)} rps, {each} each"


def _rate(value: float) -> str:
    """Two significant figures: 98.6 and 99.3 rps are both 99 rps, 5 and 50 rps differ."""
    return f"{float(f'{value:.2g}'):g}"


def _shape_part(name: str, share: float) -> str:
    return name if share >= _AT_PEAK else f"{name} at {round(share * 10) * 10}%"
