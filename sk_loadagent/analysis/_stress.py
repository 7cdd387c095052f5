"""The stress report: the capacity found by a rising load and the probes after it, and how it failed.

The engine judges each step while the run goes (it must, to stop at the break), then probes between the
highest rate that held and the lowest that broke, and lists the verdicts in ``RunResult.extra["stress"]``:
one record per step, then one per probe, ``{"rps", "achievedRps", "p95Ms", "errorRate", "held", "reason",
"seconds", "latencyGrowth", "probe"}``. Those records are authoritative: the engine counts timed-out and
still-running requests as at least their age, which the finished samples cannot. Without records, every
measured phase with a target rate is judged here by the same criteria (error rate ≤ 5 %, ≥ 90 % of the
rate delivered).

The breaking point is the highest rate that held below the lowest that broke (``firstFailedRps``); the
failure mode is how the first step of the ladder that broke failed.
"""

from __future__ import annotations

from collections.abc import Mapping

from sk_loadagent.measurements import Phase
from sk_loadagent.models.metrics import StressReport, StressStep

from ._format import number, pct
from ._run_view import RunView

DEFAULT_ERROR_CEILING = 0.05
MIN_ACHIEVED = 0.90


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def stress_report(view: RunView, raw: object) -> tuple[StressReport | None, list[str]]:
    """The report and any warning about how the steps were found."""
    step_phases = [p for p in view.result.phases if p.name.startswith("step-")] or [
        p for p in view.result.phases if p.measured and p.target_rps
    ]
    warnings: list[str] = []
    steps: list[StressStep] | None = None
    if isinstance(raw, list) and raw:
        steps = _from_records(raw)
        if steps is None:
            warnings.append(
                "stress: extra['stress'] has unreadable step records; steps judged from the phases"
            )
    elif raw is not None:
        warnings.append("stress: extra['stress'] is not a list of step records; steps judged from the phases")
    if steps is None:
        steps = [_judge(view, p) for p in step_phases if p.target_rps]
    if not steps:
        return None, [*warnings, "stress: no steps (no step records and no phases with a target rate)"]
    first_failed = next((i for i, s in enumerate(steps) if not s.held), None)
    lowest_broken = min((s.rps for s in steps if not s.held), default=None)
    held = [s.rps for s in steps if s.held and (lowest_broken is None or s.rps < lowest_broken)]
    mode = None
    if first_failed is not None:
        phase = step_phases[first_failed] if first_failed < len(step_phases) else None
        mode = _failure_mode(view, steps[first_failed], phase)
    report = StressReport(
        steps=steps,
        breaking_point_rps=max(held, default=None),
        first_failed_rps=lowest_broken,
        failure_mode=mode,
    )
    return report, warnings


def _from_records(raw: list[object]) -> list[StressStep] | None:
    steps = []
    for record in raw:
        if not isinstance(record, Mapping):
            return None
        rps = _number(record.get("rps"))
        held = record.get("held")
        if rps is None or not isinstance(held, bool):
            return None
        reason = record.get("reason")
        steps.append(
            StressStep(
                rps=rps,
                achieved_rps=_number(record.get("achievedRps")) or 0.0,
                p95=_number(record.get("p95Ms")),
                error_rate=_number(record.get("errorRate")) or 0.0,
                held=held,
                reason=reason if isinstance(reason, str) else None,
                seconds=_number(record.get("seconds")),
                latency_growth=_number(record.get("latencyGrowth")),
                probe=True if record.get("probe") is True else None,
            )
        )
    return steps


def _judge(view: RunView, phase: Phase) -> StressStep:
    target = phase.target_rps or 0.0
    fig = view.figures([(phase.start, phase.end)])
    achieved = fig.rps or 0.0
    error_rate = fig.error_rate or 0.0
    reasons = []
    if error_rate > DEFAULT_ERROR_CEILING:
        reasons.append(f"error rate {pct(error_rate)} > {pct(DEFAULT_ERROR_CEILING)}")
    if achieved < MIN_ACHIEVED * target:
        reasons.append(
            f"achieved {number(achieved)} rps < {MIN_ACHIEVED:.0%} of {number(target)} rps offered"
        )
    return StressStep(
        rps=target,
        achieved_rps=achieved,
        p95=fig.p95,
        error_rate=error_rate,
        held=not reasons,
        reason="; ".join(reasons) or None,
    )


def _failure_mode(view: RunView, step: StressStep, phase: Phase | None) -> str:
    """Errors first (naming the dominant outcome), then latency, then throughput saturation (the rate not
    delivered, or a queue growing: latency rising through the step)."""
    causes = [part.strip() for part in (step.reason or "").split(";")]
    if any(c.startswith("error rate") for c in causes):
        dominant = view.figures([(phase.start, phase.end)]).dominant_error() if phase is not None else None
        return f"errors: {dominant or 'unknown'}"
    if any(c.startswith("p95") for c in causes):
        return "latency"
    if any(c.startswith(("achieved", "latency rising")) for c in causes):
        return "throughput saturation"
    return "unspecified"
