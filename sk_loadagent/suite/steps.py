"""A flow's steps in the judgement: their own limits, their own series in memory, and the step that moved.

A flow is scored and classified on its iterations; its steps add to that in three ways:

- **limits**: perf-thresholds.yaml scopes with ``step: <name>`` set a step's own limits; what a step breaks is
  a violation of the flow, named after the step (``step login: p95 41 ms > 30 ms limit``);
- **memory**: each step is stored as a series of its own (endpoint ``flow:<test> step:<step>``, the flow's
  load profile), promoted and retired with the flow's baseline;
- **regression**: each step's p95 is compared with its own baseline; a step that regressed makes the flow
  regressed, and the comparison lists the steps whose p95 moved most (in milliseconds), so a regression
  names the step that moved.
"""

from __future__ import annotations

from typing import Any

from sk_loadagent.analysis import (
    ResolvedLimits,
    Tolerance,
    comparison_input,
    run_noise_for,
)
from sk_loadagent.analysis import compare as compare_runs
from sk_loadagent.analysis import evaluate as evaluate_limits
from sk_loadagent.memory import MemoryStore, RunRecord
from sk_loadagent.models.metrics import (
    BaselineComparison,
    EffectiveLimit,
    MetricDelta,
    PerfMetrics,
    StepMetrics,
    Violation,
)
from sk_loadagent.suite.baselines import load_history, series_key
from sk_loadagent.suite.sources import Sources

MOVED_SHOWN = 3


def step_endpoint(test: PerfMetrics, step: str) -> str:
    """The endpoint a step's memory series is keyed by: ``flow:checkout-flow step:login``."""
    return f"{test.endpoint} step:{step}"


def step_perf_metrics(test: PerfMetrics, step: StepMetrics) -> PerfMetrics:
    """A step as perf-metrics of its own series: its figures under its flow's scope, status and profile."""
    return PerfMetrics(
        trace_id=test.trace_id,
        module_id=test.module_id,
        edition_id=test.edition_id,
        test_type=test.test_type,
        test_index=test.test_index,
        test_name=f"{test.test_name} › {step.name}",
        endpoint=step_endpoint(test, step.name),
        test_target=step.target,
        performance_score=test.performance_score,
        status=test.status,
        rps=step.rps,
        latency=step.latency,
        service_time=step.service_time,
        error_rate=step.error_rate,
        errors=step.errors or {},
        requests=step.requests,
        latency_histogram=step.latency_histogram,
        load_profile=test.load_profile,
        infrastructure_failure=test.infrastructure_failure,
        regression=bool(step.baseline is not None and step.baseline.regressed),
        retry_attempt=test.retry_attempt,
        retry=test.retry,
    )


# -- limits --------------------------------------------------------------------------------------------------
def judge_steps(test: PerfMetrics, sources: Sources) -> tuple[list[StepMetrics], list[Violation]]:
    """Each step with the limits that apply to it, and the violations of those limits (named after it)."""
    steps: list[StepMetrics] = []
    violations: list[Violation] = []
    for step in test.steps or []:
        limits = sources.step_limits_for(test, step.name)
        effective = [
            EffectiveLimit(metric=m, limit=lim.value, source=lim.source) for m, lim in limits.items()
        ]
        steps.append(step.model_copy(update={"thresholds": effective or None}))
        if not limits:
            continue
        view = PerfMetrics(latency=step.latency, rps=step.rps, error_rate=step.error_rate)
        for found in evaluate_limits(view, ResolvedLimits(limits=limits, tolerance=Tolerance())):
            violations.append(
                found.model_copy(update={"step": step.name, "message": f"step {step.name}: {found.message}"})
            )
    return steps, violations


# -- regression ----------------------------------------------------------------------------------------------
def compare_steps(
    test: PerfMetrics, comparison: BaselineComparison, store: MemoryStore | None, tolerance: Tolerance
) -> tuple[list[StepMetrics], dict[str, Any]]:
    """Each step's p95 against its own series' baseline; returns the steps (with ``baseline``) and the
    updates for the flow's comparison: regressed steps in ``metrics``, the steps that moved most."""
    steps: list[StepMetrics] = []
    moved: list[tuple[float, str]] = []
    metrics = dict(comparison.metrics or {})
    regressed = bool(comparison.regressed)
    for step in test.steps or []:
        delta = _step_delta(test, step, store, tolerance)
        steps.append(step.model_copy(update={"baseline": delta}))
        if delta is None or delta.baseline is None or delta.current is None:
            continue
        if delta.regressed:
            metrics[f"step {step.name} p95"] = delta
            regressed = True
        if delta.current > delta.baseline:
            interval = f" [{delta.interval.low}, {delta.interval.high}]" if delta.interval else ""
            ms = f"{delta.baseline:.1f} → {delta.current:.1f} ms"
            moved.append((delta.current - delta.baseline, f"{step.name} p95 {delta.delta}{interval} ({ms})"))
    moved.sort(key=lambda item: -item[0])
    updates: dict[str, Any] = {"metrics": metrics or None, "regressed": regressed}
    if moved:
        updates["moved_steps"] = [text for _, text in moved[:MOVED_SHOWN]]
    return steps, updates


def _step_delta(
    test: PerfMetrics, step: StepMetrics, store: MemoryStore | None, tolerance: Tolerance
) -> MetricDelta | None:
    if store is None or step.latency is None:
        return None
    current = step_perf_metrics(test, step)
    history = load_history(store, series_key(current))
    baseline = history.baseline_input()
    if baseline is None:
        return None
    compared = compare_runs(
        comparison_input(current), baseline, tolerance, run_noise=run_noise_for(history.entries)
    )
    return (compared.metrics or {}).get("p95")


# -- memory --------------------------------------------------------------------------------------------------
def push_steps(test: PerfMetrics, store: MemoryStore, *, promote: bool, obsolete: bool) -> list[str]:
    """Store each step as a run of its own series; its baseline moves (or retires) with the flow's."""
    stored = []
    for step in test.steps or []:
        metrics = step_perf_metrics(test, step)
        key = series_key(metrics)
        record = RunRecord.from_metrics(metrics, is_baseline=promote)
        regressed = bool(step.baseline is not None and step.baseline.regressed)
        record = store.push(
            record.model_copy(update={"load_profile": key.load_profile, "regressed": regressed})
        )
        if obsolete:
            store.mark_obsolete(key)
        stored.append(record.run_id or "")
    return stored
