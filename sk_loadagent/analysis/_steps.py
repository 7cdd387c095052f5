"""A flow's figures: each step over the measured phases, and the iterations as a whole.

A step's figures come from its own calls that were due in the measured phases: exact percentiles from its
raw samples when every worker kept them all, else from its per-phase histograms (each within
``histogram.RELATIVE_ERROR``). Checks are counted per check name in the order the step wrote them. A step
on a built-in surface also has its surface's figures, as a surface test has (``_surface``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.measurements import Outcome, Phase, RunResult, StepMeasurements, StepTally
from sk_loadagent.models.metrics import CheckResult, FlowFigures, StepMetrics

from ._quantiles import summary_from_histogram, summary_from_seconds
from ._run_view import Figures
from ._surface import step_surface_figures


def step_metrics(result: RunResult, measured: Sequence[Phase], seconds: float) -> list[StepMetrics]:
    """Every step of the flow over the ``measured`` phases (``seconds`` long in all)."""
    indices = [i for i, p in enumerate(result.phases) if any(p is m for m in measured)]
    return [_step(step, indices, measured, seconds) for step in result.steps]


def _step(
    step: StepMeasurements, indices: list[int], measured: Sequence[Phase], seconds: float
) -> StepMetrics:
    tally = StepTally()
    for index in indices:
        tally.merge(step.phases[index])
    total = sum(t.requests for t in step.phases)
    exact = len(step.samples) == total and total > 0
    if exact:
        s = step.samples
        keep = np.zeros(len(s), dtype=bool)
        for phase in measured:
            keep |= (s.start >= phase.start) & (s.start < phase.end)
        latencies = s.latency[keep]
        latency = summary_from_seconds(latencies)
        service = summary_from_seconds(s.service[keep])
        histogram = LatencyHistogram.from_values(latencies)
    else:
        latency = summary_from_histogram(tally.latency)
        service = summary_from_histogram(tally.service)
        histogram = tally.latency
    figures = Figures(seconds=seconds, requests=tally.requests, outcomes=dict(tally.outcomes))
    return StepMetrics(
        name=step.name,
        target=step.target,
        requests=tally.requests,
        rps=figures.rps,
        error_rate=figures.error_rate,
        errors=figures.error_counts() or None,
        late_starts=tally.late,
        latency=latency,
        service_time=service,
        checks=[CheckResult(name=n, passed=p, failed=f) for n, (p, f) in tally.checks.items()] or None,
        latency_histogram=histogram.to_sparse() if histogram.count else None,
        surface=(
            step_surface_figures(step.surface, [(p.start, p.end) for p in measured])
            if step.surface is not None
            else None
        ),
    )


def flow_figures(iterations: Figures, steps: Sequence[StepMetrics]) -> FlowFigures:
    """The iterations of the measured phases, beside the step calls they made."""
    step_requests = sum(s.requests for s in steps)
    step_errors = sum(sum((s.errors or {}).values()) for s in steps)
    completed = iterations.outcomes.get(Outcome.OK, 0)
    return FlowFigures(
        iterations=iterations.requests,
        completed=completed,
        failed=iterations.requests - completed,
        iterations_per_second=iterations.rps,
        step_requests=step_requests,
        step_error_rate=step_errors / step_requests if step_requests else None,
    )


def step_bytes(result: RunResult, measured: Sequence[Phase]) -> int:
    """Bytes the flow's steps sent and received in the measured phases (what its throughput carried)."""
    indices = [i for i, p in enumerate(result.phases) if any(p is m for m in measured)]
    return sum(step.phases[i].bytes_in + step.phases[i].bytes_out for step in result.steps for i in indices)


__all__ = ["flow_figures", "step_bytes", "step_metrics"]
