"""Judging each test of a suite: compare with memory, score, classify, and decide on retries.

Each function takes perf-metrics (one test, or a suite with ``tests``) and returns the same shape with its
part filled in, so a skill can run it alone, as another agent would (e.g. scoring a Resiliency run). The
status itself is set only by ``analysis.verdict.classify``: ``evaluate_test`` gathers its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from sk_loadagent.analysis import (
    HistoryEntry,
    PreviousRun,
    ResolvedLimits,
    change_point_note,
    classify,
    comparison_input,
    detect_infrastructure_anomaly,
    detect_infrastructure_failure,
    edition_deviation,
    measured_runs,
    obsolete_suggestion,
    retry_decision,
    run_noise_for,
    score_breakdown,
    select_baseline,
    series_change_points,
    type_reading,
    written_score,
)
from sk_loadagent.analysis import (
    compare as compare_runs,
)
from sk_loadagent.analysis import (
    evaluate as evaluate_limits,
)
from sk_loadagent.analysis.retry import PlannedLoad, RetryBudget, RetryDecision, fits_budget, score_noise
from sk_loadagent.analysis.spans import BaselineSpans, compare_spans, span_anomaly
from sk_loadagent.analysis.verdict import score_band
from sk_loadagent.memory import MemoryStore, SeriesKey
from sk_loadagent.models.annotation import RetryWith
from sk_loadagent.models.durations import format_duration
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.metrics import BaselineComparison, PerfMetrics, ScoreWeights
from sk_loadagent.models.thresholds import PerfThresholds, ThresholdLimits
from sk_loadagent.suite.assemble import suite_metrics
from sk_loadagent.suite.baselines import load_history, seed_input, series_key
from sk_loadagent.suite.execution_plan import ExecutionPlan, PlannedTest
from sk_loadagent.suite.sources import Sources
from sk_loadagent.suite.steps import compare_steps, judge_steps

_FLAKY_WINDOW = 6


def each_test(suite: PerfMetrics, fn: Callable[[PerfMetrics], PerfMetrics]) -> PerfMetrics:
    """Apply ``fn`` to every test and rebuild the suite's top level from the results."""
    if not suite.tests:
        return fn(suite)
    return suite_metrics([fn(t) for t in suite.tests])


def _sources(plan: ExecutionPlan | None, thresholds: dict[str, Any] | None) -> Sources:
    sources = plan.sources() if plan is not None else Sources()
    if thresholds is not None:
        doc = validate_document(thresholds, PerfThresholds, "thresholds")
        sources.thresholds = [("thresholds", doc), *sources.thresholds]
    return sources


def _memory_limits(test: PerfMetrics, tolerance_p95: float = 0.25) -> ThresholdLimits | None:
    """Spec cycle 8: latency.p95 must be ≤ the historical baseline + the allowed delta."""
    comparison = test.baseline_comparison
    if comparison is None or comparison.p95_latency_baseline is None or comparison.exploratory:
        return None
    return ThresholdLimits(latency_p95=round(comparison.p95_latency_baseline * (1 + tolerance_p95), 3))


def limits_for(test: PerfMetrics, sources: Sources) -> ResolvedLimits:
    first = sources.limits_for(test)
    return sources.limits_for(test, memory_derived=_memory_limits(test, first.tolerance.p95))


# -- compare ---------------------------------------------------------------------------------------------


def _flaky(statuses: list[str | None]) -> bool:
    """A flakiness pattern: the status flipped between good and bad at least twice in the recent runs."""
    good = [s in ("pass", "warning") for s in statuses[-_FLAKY_WINDOW:] if s is not None]
    flips = sum(1 for a, b in pairwise(good) if a != b)
    return flips >= 2


def _edition_deviation(store: MemoryStore | None, test: PerfMetrics, key: SeriesKey) -> dict[str, str] | None:
    """The p95 of this edition against the latest run of each other edition, under the same load profile."""
    if store is None or test.latency is None or test.latency.p95 is None or test.edition_id is None:
        return None
    latest: dict[str, float] = {}
    for record in store.find(module_id=test.module_id, test_type=test.test_type, endpoint=test.endpoint):
        same_load = record.load_profile == key.load_profile
        if same_load and record.edition_id and record.edition_id != test.edition_id and record.p95_latency_ms:
            latest[record.edition_id] = record.p95_latency_ms
    if not latest:
        return None
    latest[test.edition_id] = test.latency.p95
    return edition_deviation(latest) or None


def _different_load(store: MemoryStore | None, key: SeriesKey) -> list[str]:
    """Why a run with no baseline under its load profile is not compared with this scope's other baselines."""
    if store is None:
        return []
    scope = key.scope
    found = store.find(
        module_id=key.module_id, edition_id=key.edition_id, test_type=key.test_type, endpoint=key.endpoint
    )
    others = sorted(
        {r.load_profile or "unknown" for r in found if r.is_baseline and r.key.scope == scope}
        - {key.load_profile or "unknown"}
    )
    this = key.load_profile or "unknown"
    return [
        f"no baseline under this load ({this}); the scope's baseline under {other} is a different load: "
        "not comparable, so not compared"
        for other in others
    ]


def _obsolete_notes(baseline: HistoryEntry) -> list[str]:
    return [
        obsolete_suggestion(),
        f"compared with the obsolete baseline (run {baseline.trace_id or baseline.run_id}) until a validated "
        "pass replaces it",
    ]


def _previous_run(entries: list[HistoryEntry]) -> dict[str, Any]:
    """The latest run of the series that measured the service (an outage is no previous build's figure)."""
    measured = measured_runs(entries)
    if not measured:
        return {}
    previous = measured[-1]
    return {
        "previous_run_id": previous.run_id or None,
        "previous_score": previous.score,
        "previous_status": previous.status,
    }


def compare_test(
    test: PerfMetrics, plan: ExecutionPlan | None, store: MemoryStore | None, sources: Sources
) -> PerfMetrics:
    key = series_key(test)
    history = load_history(store, key)
    entries = history.entries
    baseline = history.baseline_input()
    seeds = list(plan.seed_baselines if plan else [])
    if baseline is None and seeds:
        from sk_loadagent.models.baseline import PerfBaseline

        baseline = seed_input([PerfBaseline.model_validate(s) for s in seeds], test)
    tolerance = sources.limits_for(test).tolerance
    comparison = compare_runs(comparison_input(test), baseline, tolerance, run_noise=run_noise_for(entries))
    selected = select_baseline(entries)
    notes = list(comparison.notes or [])
    updates: dict[str, Any] = {"flaky_history": _flaky([e.status for e in measured_runs(entries)]) or None}
    updates.update(_previous_run(entries))
    found = series_change_points(measured_runs(entries))
    if found.points:
        updates["change_points"] = [p.index for p in found.points]
        updates["change_point_details"] = [p.mark() for p in found.points]
        notes += [change_point_note(p) for p in found.points]
    if baseline is None:
        notes += _different_load(store, key)
    elif selected is not None and selected.baseline_obsolete:
        updates["baseline_obsolete"] = True
        notes += _obsolete_notes(selected)
    updates["notes"] = notes or None
    deviation = _edition_deviation(store, test, key)
    if deviation:
        updates["edition_deviation"] = deviation
    test = test.model_copy(update={"load_profile": key.load_profile})
    comparison = comparison.model_copy(update=updates)
    if test.steps:
        steps, step_updates = compare_steps(test, comparison, store, tolerance)
        comparison = comparison.model_copy(update=step_updates)
        test = test.model_copy(update={"steps": steps})
    if test.trace_summary is not None:
        stored = _stored_spans(store, selected.run_id if selected is not None else None)
        spans = compare_spans(test.trace_summary, stored, tolerance.p95, run_noise=run_noise_for(entries))
        test = test.model_copy(update={"trace_summary": spans})
    return test.model_copy(update={"baseline_comparison": comparison})


def _stored_spans(store: MemoryStore | None, run_id: str | None) -> BaselineSpans | None:
    """The baseline run's span profile, as memory keeps it with the run (schema 4)."""
    record = store.get(run_id) if store is not None and run_id else None
    return BaselineSpans.from_profile(record.span_profile) if record is not None else None


def compare(suite: PerfMetrics, plan: ExecutionPlan | None, store: MemoryStore | None) -> PerfMetrics:
    sources = _sources(plan, None)
    return each_test(suite, lambda t: compare_test(t, plan, store, sources))


# -- score -----------------------------------------------------------------------------------------------


def score_test(test: PerfMetrics, sources: Sources, weights: ScoreWeights | None) -> PerfMetrics:
    limits = limits_for(test, sources)
    chosen = weights or sources.weights(test.module_id, test.edition_id, test.test_type)
    breakdown = score_breakdown(test, limits, chosen)
    return test.model_copy(
        update={
            "performance_score": written_score(breakdown.score),
            "score_status": score_band(breakdown.score)[0],
            "score_components": breakdown.components,
            "score_weights": breakdown.weights,
            "thresholds": limits.as_effective(),
        }
    )


def score(
    suite: PerfMetrics,
    plan: ExecutionPlan | None,
    *,
    thresholds: dict[str, Any] | None = None,
    weights: dict[str, float] | None = None,
) -> PerfMetrics:
    sources = _sources(plan, thresholds)
    given = validate_document(weights, ScoreWeights, "weights") if weights else None
    return each_test(suite, lambda t: score_test(t, sources, given))


# -- evaluate --------------------------------------------------------------------------------------------


def _previous(comparison: BaselineComparison | None) -> PreviousRun | None:
    if comparison is None or comparison.previous_run_id is None:
        return None
    return PreviousRun(comparison.previous_run_id, comparison.previous_score, comparison.previous_status)


def evaluate_test(test: PerfMetrics, sources: Sources, *, warn_on_regression: bool = False) -> PerfMetrics:
    """The test judged: its limits, violations and findings gathered and handed to ``classify``."""
    if test.performance_score is None:
        test = score_test(test, sources, None)
    assert test.performance_score is not None
    limits = limits_for(test, sources)
    flags = sources.flags(test.module_id, test.edition_id, test.test_type)
    comparison = test.baseline_comparison
    outage = detect_infrastructure_failure(test)
    steps, step_violations = judge_steps(test, sources)
    verdict = classify(
        test.performance_score,
        evaluate_limits(test, limits) + step_violations,
        comparison,
        tolerance=limits.tolerance.p95,
        reading=type_reading(test),
        ignore=flags.ignore,
        error_rate=test.error_rate,
        infrastructure_failure=outage,
        previous=_previous(comparison),
        infrastructure_anomaly=detect_infrastructure_anomaly(test),
        override=flags.override_status,
        warn_on_regression=warn_on_regression,
        span_anomaly=span_anomaly(test.trace_summary) if "baseline" not in flags.ignore else None,
    )
    excluded = bool(test.excluded_from_gate) or flags.exclude_from_gate
    return test.model_copy(
        update={
            "status": verdict.status,
            "violations": list(verdict.violations) or None,
            "reasons": [*verdict.reasons, *(f"Studio annotation: {r}" for r in flags.reasons)],
            "regression": verdict.regression,
            "exploratory": comparison is None or bool(comparison.exploratory) or flags.exploratory,
            "infrastructure_failure": outage,
            "excluded_from_gate": excluded or None,
            "excluded_from_score": bool(test.excluded_from_score) or flags.exclude_from_score or None,
            "steps": steps or test.steps,
        }
    )


def evaluate(
    suite: PerfMetrics, plan: ExecutionPlan | None, *, thresholds: dict[str, Any] | None = None
) -> PerfMetrics:
    sources = _sources(plan, thresholds)
    warn = plan is not None and plan.warn_on_regression
    return each_test(suite, lambda t: evaluate_test(t, sources, warn_on_regression=warn))


# -- retry -----------------------------------------------------------------------------------------------


def _planned_load(planned: PlannedTest | None) -> PlannedLoad | None:
    if planned is None:
        return None
    return PlannedLoad(
        peak_rps=planned.planned_peak_rps,
        duration=planned.test.duration,
        seconds=planned.planned_seconds,
        warmup=planned.test.warmup,
    )


def _reviewer_adjustments(retry_with: RetryWith | None) -> dict[str, str | float] | None:
    """A Studio ``retryWith`` spelled as retry adjustments (durations as the plan writes them)."""
    if retry_with is None:
        return None
    values: dict[str, str | float | None] = {
        "rps": retry_with.rps,
        "vus": retry_with.vus,
        "duration": format_duration(retry_with.duration) if retry_with.duration is not None else None,
        "warmup": format_duration(retry_with.warmup) if retry_with.warmup is not None else None,
    }
    return {k: v for k, v in values.items() if v is not None}


def _retry_budget(
    tests: list[PerfMetrics], plan: ExecutionPlan | None, given: Mapping[str, float] | None
) -> RetryBudget | None:
    """The planner's clock as a budget; a test's overhead is the judged attempt's time beyond the planned
    schedules of the tests it ran, shared equally."""
    if given is None:
        return None
    planned = [
        plan.test(t.test_index).planned_seconds
        for t in tests
        if plan is not None and t.test_index is not None
    ]
    scheduled = sum(s for s in planned if s is not None)
    overhead = max(0.0, float(given.get("attemptSeconds", 0.0)) - scheduled) / max(1, len(tests))
    return RetryBudget(seconds_left=float(given.get("secondsLeft", 0.0)), overhead_s=overhead)


def recommend(
    suite: PerfMetrics,
    plan: ExecutionPlan | None,
    *,
    attempt: int,
    retried_for: Mapping[str, Sequence[str]] | None = None,
    budget: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Spec cycle 18: which tests to retry, with which strategy and adjustments, and which failing tests to
    escalate now (the rule is ``analysis.retry``'s); the planner loops. ``retried_for`` holds, per test
    index, the trigger kinds that already retried it; ``budget`` the planner's retry clock
    (``secondsLeft``, ``attemptSeconds``): retries that do not fit are not made."""
    max_attempts = plan.max_retries if plan is not None else 3
    sources = plan.sources() if plan is not None else Sources()
    decision: dict[str, Any] = {
        "retry": False,
        "tests": [],
        "strategy": {},
        "adjustments": {},
        "reasons": {},
        "triggers": {},
        "kinds": {},
        "escalated": [],
        "cooldownSeconds": 0.0,
        "expectedSeconds": 0.0,
    }
    counted = [t for t in suite.tests or [suite] if not t.excluded_from_gate]
    allowed = _retry_budget(counted, plan, budget)
    wanted: list[tuple[PerfMetrics, RetryDecision]] = []
    for test in counted:
        index = test.test_index if test.test_index is not None else 0
        planned = plan.test(index) if plan is not None and test.test_index is not None else None
        comparison = test.baseline_comparison
        flags = sources.flags(test.module_id, test.edition_id, test.test_type)
        choice = retry_decision(
            test,
            attempt=attempt,
            max_attempts=max_attempts,
            retry_on_fail=planned.retry_on_fail if planned is not None else False,
            history_flaky=bool(comparison is not None and comparison.flaky_history),
            noise=score_noise(test, limits_for(test, sources)),
            planned=_planned_load(planned),
            retry_with=_reviewer_adjustments(flags.retry_with),
            retried_for=(retried_for or {}).get(str(index), ()),
            budget=allowed,
        )
        key = str(index)
        decision["reasons"][key] = choice.reason
        if choice.trigger is not None:
            decision["triggers"][key] = choice.trigger
        if choice.kind is not None:
            decision["kinds"][key] = choice.kind
        if choice.retry:
            wanted.append((test, choice))
        elif choice.escalate:
            decision["escalated"].append(index)
    fitting = fits_budget([choice.cost_s for _, choice in wanted], allowed)
    overhead = allowed.overhead_s if allowed is not None else 0.0
    scores: list[float] = []
    for test, choice in wanted[:fitting]:
        index = test.test_index if test.test_index is not None else 0
        decision["retry"] = True
        decision["tests"].append(index)
        decision["strategy"][str(index)] = choice.strategy
        decision["adjustments"][str(index)] = dict(choice.adjustments)
        decision["cooldownSeconds"] = max(decision["cooldownSeconds"], choice.cooldown_s)
        decision["expectedSeconds"] += choice.cost_s + overhead
        if test.performance_score is not None:
            scores.append(test.performance_score)
    left = max(0.0, allowed.seconds_left - decision["expectedSeconds"]) if allowed is not None else 0.0
    for test, choice in wanted[fitting:]:
        index = test.test_index if test.test_index is not None else 0
        decision["reasons"][str(index)] = (
            f"{choice.trigger}: a {choice.strategy} retry of {format_duration(round(choice.cost_s, 1))} "
            f"does not fit the {format_duration(round(left, 1))} left of the retry budget"
        )
        if test.status in ("degraded", "fail"):
            decision["escalated"].append(index)
    decision["previousScore"] = min(scores) if scores else None
    return decision
