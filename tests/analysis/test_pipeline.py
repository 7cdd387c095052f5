"""The whole judgement of a run, in the order the skills chain it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from sk_loadagent.analysis import (
    HistoryEntry,
    classify,
    compare,
    comparison_input,
    evaluate,
    gate,
    resolve_limits,
    score_breakdown,
    should_promote,
    summarize,
)
from sk_loadagent.measurements import Phase
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.thresholds import PerfThresholds


def _judge(run, baseline_metrics: PerfMetrics | None) -> PerfMetrics:
    metrics = summarize(run)
    limits = resolve_limits(
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type="load",
        endpoint="/checkout/submit",
        annotation=None,
        files=[
            PerfThresholds.model_validate({"module": "CheckoutService", "thresholds": {"latencyP95": 60}})
        ],
        edition_slo=None,
        memory_derived=None,
        target_rps=metrics.target_rps,
    )
    metrics.thresholds = limits.as_effective()
    metrics.violations = evaluate(metrics, limits)
    baseline = comparison_input(baseline_metrics) if baseline_metrics is not None else None
    metrics.baseline_comparison = compare(comparison_input(metrics), baseline, limits.tolerance)
    breakdown = score_breakdown(metrics, limits)
    metrics.performance_score, metrics.score_components = breakdown.score, breakdown.components
    verdict = classify(
        breakdown.score, metrics.violations, metrics.baseline_comparison, tolerance=limits.tolerance.p95
    )
    metrics.status, metrics.reasons = verdict.status, verdict.reasons + breakdown.reasons
    return metrics


def _run(run_factory, starts_factory, median_ms: float, seed: int):
    starts = starts_factory(0, 32, 50)
    latency = np.random.default_rng(seed).lognormal(np.log(median_ms / 1000), 0.3, starts.size)
    phases = [Phase("warmup", 0, 2, False, 50), Phase("steady", 2, 32, True, 50)]
    return run_factory(starts, latency, phases=phases)


def test_first_run_is_exploratory_and_becomes_the_baseline(run_factory, starts_factory):
    first = _judge(_run(run_factory, starts_factory, 25, seed=1), None)
    assert first.status == "pass"
    assert first.performance_score == 1.0
    assert first.baseline_comparison is not None
    assert first.baseline_comparison.exploratory is True
    verdict = classify(first.performance_score, first.violations or [], first.baseline_comparison)
    assert should_promote(verdict, first.baseline_comparison, first.performance_score, None) is True
    assert PerfMetrics.model_validate(first.to_wire()).to_wire() == first.to_wire()


def test_slower_build_is_a_confirmed_regression_and_fails_the_gate(run_factory, starts_factory):
    base = _judge(_run(run_factory, starts_factory, 25, seed=1), None)
    base.performance_score, base.status = 1.0, "pass"
    same = _judge(_run(run_factory, starts_factory, 25, seed=2), base)
    assert same.baseline_comparison is not None
    assert same.baseline_comparison.regressed is False
    assert same.status == "pass"
    slow = _judge(_run(run_factory, starts_factory, 40, seed=3), base)  # +60 % and over the 60 ms p95 limit
    comparison = slow.baseline_comparison
    assert comparison is not None
    assert comparison.regressed is True
    assert comparison.confidence is not None
    assert comparison.confidence > 0.97
    assert slow.status == "fail"  # regressed by more than twice the tolerance while violating the p95 limit
    assert slow.reasons is not None
    assert any("more than twice the +25% tolerance" in r for r in slow.reasons)
    result = gate([same, slow])
    assert result.passed is False
    baseline_entry = HistoryEntry(
        "r1", None, datetime(2026, 1, 1, tzinfo=UTC), "pass", 1.0, 30.0, is_baseline=True
    )
    verdict = classify(slow.performance_score or 0.0, slow.violations or [], comparison)
    assert should_promote(verdict, comparison, slow.performance_score or 0.0, baseline_entry) is False
