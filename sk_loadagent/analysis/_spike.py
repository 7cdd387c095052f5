"""The spike report: how the service behaved at the burst and how long it took to come back."""

from __future__ import annotations

from sk_loadagent.measurements import Phase
from sk_loadagent.models.metrics import SpikeReport

from ._format import ms
from ._run_view import RunView

RECOVERY_FACTOR = 1.2
RECOVERY_SLACK_MS = 5.0


def _phase(phases: list[Phase], name: str) -> Phase | None:
    return next((p for p in phases if p.name.lower() == name), None)


def recovery_bound(baseline_p95_ms: float) -> float:
    """The p95 a window must be back under: max(1.2 × baseline p95, baseline p95 + 5 ms).

    The absolute slack keeps a fast service (2 ms baseline) from being called unrecovered over 0.5 ms of
    timer noise.
    """
    return max(RECOVERY_FACTOR * baseline_p95_ms, baseline_p95_ms + RECOVERY_SLACK_MS)


def spike_report(view: RunView) -> SpikeReport | None:
    """None when the run has no phase named ``spike``."""
    phases = view.result.phases
    spike = _phase(phases, "spike")
    if spike is None:
        return None
    baseline = _phase(phases, "baseline")
    recovery = _phase(phases, "recovery")
    base = view.figures([(baseline.start, baseline.end)]) if baseline else None
    burst = view.figures([(spike.start, spike.end)])
    step = view.result.window_seconds
    peak = [
        view.figures([(w.start, w.start + step)]).rps or 0.0
        for w in view.windows
        if spike.start <= w.start < spike.end
    ]
    base_p95 = base.p95 if base else None
    recovered, recovery_ms, criterion = _recovery(view, spike, recovery, base_p95)
    return SpikeReport(
        baseline_rps=(base.rps or 0.0) if base else 0.0,
        peak_rps=max(peak, default=burst.rps or 0.0),
        baseline_latency_ms=base_p95,
        spike_latency_ms=burst.p95,
        recovery_time_ms=recovery_ms,
        recovered=recovered,
        recovery_criterion=criterion,
    )


def _recovery(
    view: RunView, spike: Phase, recovery: Phase | None, base_p95: float | None
) -> tuple[bool, float | None, str]:
    if base_p95 is None:
        return False, None, "no baseline p95 (no 'baseline' phase with responses): recovery cannot be judged"
    bound = recovery_bound(base_p95)
    criterion = (
        f"recovered once every window's p95 from then to the end of the recovery phase is within {ms(bound)} "
        f"(max of 1.2 × baseline p95 {ms(base_p95)} and baseline + 5 ms); "
        f"timed from the end of the spike phase, resolution {view.result.window_seconds:g} s"
    )
    if recovery is None:
        return False, None, "no 'recovery' phase after the spike: " + criterion
    step = view.result.window_seconds
    p95s = [
        (w.start, view.figures([(w.start, w.start + step)]).p95)
        for w in view.windows
        if recovery.start <= w.start < recovery.end
    ]
    measured: list[tuple[float, float]] = [(start, p95) for start, p95 in p95s if p95 is not None]
    if not measured or measured[-1][1] > bound:
        return False, None, criterion
    first_good = len(measured) - 1
    while first_good > 0 and measured[first_good - 1][1] <= bound:
        first_good -= 1
    return True, max(0.0, measured[first_good][0] - spike.end) * 1000.0, criterion
