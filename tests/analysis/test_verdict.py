"""Status rules (score band, thresholds, regression), reasons, and the CI gate."""

from __future__ import annotations

import pytest

from sk_loadagent.analysis import GateEntry, classify, evaluate, gate, resolve_limits
from sk_loadagent.analysis.verdict import threshold_status
from sk_loadagent.models.metrics import (
    BaselineComparison,
    Interval,
    LatencySummary,
    MetricDelta,
    PerfMetrics,
    Violation,
)


def _violation(severity: str, metric: str = "latencyP95") -> Violation:
    return Violation(
        metric=metric,
        limit=1,
        observed=2,
        severity=severity,
        source="default",
        message=f"{metric} {severity}",
    )


@pytest.mark.parametrize(
    ("severities", "status"),
    [
        ([], "pass"),
        (["minor"], "warning"),
        (["significant"], "degraded"),
        (["minor", "minor"], "degraded"),
        (["minor", "minor", "minor"], "degraded"),
        (["minor", "significant"], "fail"),
        (["significant", "significant"], "fail"),
    ],
)
def test_threshold_rules_of_cycle_8(severities, status):
    violations = [_violation(s) for s in severities]
    assert threshold_status(violations) == status
    assert classify(1.0, violations, None).status == status


@pytest.mark.parametrize(
    ("score", "status"),
    [
        (1.0, "pass"),
        (0.90, "pass"),
        (0.895, "pass"),
        (0.8949, "warning"),
        (0.75, "warning"),
        (0.7449, "degraded"),
        (0.50, "degraded"),
        (0.4949, "fail"),
        (0.0, "fail"),
    ],
)
def test_score_bands_read_the_written_score(score, status):
    assert classify(score, [], None).status == status


def test_status_is_the_worse_of_band_and_thresholds():
    verdict = classify(0.95, [_violation("significant")], None)
    assert verdict.status == "degraded"
    assert verdict.reasons[0] == "score 0.95 is in the pass band (≥ 0.90)"
    assert verdict.reasons[1] == "1 threshold violation (significant): latencyP95 significant"
    assert classify(0.6, [_violation("minor")], None).status == "degraded"


def _regressed(base: float, current: float, **extra) -> BaselineComparison:
    return BaselineComparison(
        p95_latency_baseline=base,
        p95_current=current,
        delta_latency_p95=f"{round((current / base - 1) * 100):+d}%",
        regressed=True,
        confidence=0.97,
        exploratory=False,
        **extra,
    )


def test_confirmed_regression_is_at_least_degraded():
    verdict = classify(0.97, [], _regressed(100, 130))
    assert (verdict.status, verdict.regression) == ("degraded", True)
    assert verdict.reasons[-1] == "p95 regressed +30% vs the baseline (confidence 0.97): at least degraded"


def test_large_regression_with_a_violation_fails():
    verdict = classify(
        0.97,
        [_violation("minor")],
        _regressed(100, 151),
    )
    assert verdict.status == "fail"
    assert (
        verdict.reasons[-1]
        == "p95 +51% is more than twice the +25% tolerance and a threshold is violated: fail"
    )


def test_large_regression_without_violations_is_degraded():
    assert classify(0.97, [], _regressed(100, 160)).status == "degraded"


def test_twice_the_tolerance_follows_the_given_tolerance():
    assert classify(0.97, [_violation("minor")], _regressed(100, 130), tolerance=0.10).status == "fail"


def test_regressed_rps_is_named_in_the_reasons():
    comparison = _regressed(
        100,
        101,
        metrics={
            "rps": MetricDelta(
                baseline=100,
                current=70,
                delta="-30%",
                interval=Interval(low="-34%", high="-26%"),
                regressed=True,
                confidence=0.99,
            ),
            "p95": MetricDelta(baseline=100, current=101, delta="+1%", regressed=False),
        },
    )
    verdict = classify(0.97, [_violation("minor")], comparison)
    assert verdict.status == "degraded"
    assert (
        "rps regressed -30% [-34%, -26%] vs the baseline (confidence 0.99): at least degraded"
        in verdict.reasons
    )


def test_unconfirmed_change_does_not_move_the_status():
    comparison = BaselineComparison(
        p95_latency_baseline=100,
        p95_current=112,
        delta_latency_p95="+12%",
        delta_latency_p95_interval=Interval(low="-2%", high="+27%"),
        regressed=False,
        exploratory=False,
    )
    verdict = classify(0.97, [], comparison)
    assert (verdict.status, verdict.regression) == ("pass", False)
    assert verdict.reasons[-1] == "p95 +12% [-2%, +27%] vs the baseline: no confirmed regression"


def test_exploratory_run_cannot_regress():
    verdict = classify(0.97, [], BaselineComparison(exploratory=True, regressed=False))
    assert (verdict.status, verdict.regression) == ("pass", False)
    assert verdict.reasons[-1] == "no baseline: exploratory, nothing to regress against"


def test_score_drop_above_015_is_flagged_as_regression():
    comparison = BaselineComparison(regressed=False, exploratory=False, baseline_score=0.95)
    verdict = classify(0.79, [], comparison)
    assert (verdict.status, verdict.regression) == ("warning", True)
    assert "score fell 0.16 (0.95 → 0.79) vs the baseline, more than 0.15: regression" in verdict.reasons
    # exactly 0.15 is not more than 0.15, whatever the float arithmetic says
    assert classify(0.79, [], comparison.model_copy(update={"baseline_score": 0.94})).regression is False


def test_pass_to_degraded_is_a_regression():
    comparison = BaselineComparison(
        regressed=False, exploratory=False, baseline_status="pass", baseline_score=0.7
    )
    verdict = classify(0.70, [], comparison)
    assert (verdict.status, verdict.regression) == ("degraded", True)
    assert verdict.reasons[-1] == "status went from pass (baseline) to degraded: regression"


def test_worked_example_of_the_module_docstring():
    limits = resolve_limits(
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type="spike",
        endpoint=None,
        annotation=None,
        files=[],
        edition_slo=None,
        memory_derived=None,
    )
    violations = evaluate(PerfMetrics(latency=LatencySummary(p95=810), error_rate=0.0), limits)
    comparison = BaselineComparison(
        p95_latency_baseline=600,
        p95_current=810,
        delta_latency_p95="+35%",
        delta_latency_p95_interval=Interval(low="+20%", high="+41%"),
        regressed=True,
        confidence=0.92,
        exploratory=False,
    )
    verdict = classify(0.58, violations, comparison, tolerance=limits.tolerance.p95)
    assert (verdict.status, verdict.regression) == ("degraded", True)
    assert verdict.reasons == [
        "score 0.58 is in the degraded band (0.50–0.74)",
        "1 threshold violation (minor): p95 810 ms > 800 ms limit (+1 %) from default",
        "p95 regressed +35% [+20%, +41%] vs the baseline (confidence 0.92): at least degraded",
    ]


def test_gate_counts_fail_always_and_degraded_on_request():
    tests = [GateEntry("a", "pass", 0.95), GateEntry("b", "degraded", 0.70), GateEntry("c", "warning", 0.80)]
    assert gate(tests).passed is True
    result = gate(tests, fail_on_degraded=True)
    assert result.passed is False
    assert result.reasons == ["2 of 3 counted test(s) passed the gate", "b: status degraded (failOnDegraded)"]
    failing = gate([*tests, GateEntry("d", "fail", 0.9)])
    assert (failing.passed, failing.reasons[-1]) == (False, "d: status fail")


def test_gate_min_score_uses_the_written_score():
    assert gate([GateEntry("a", "pass", 0.849)], min_score=0.85).passed is True
    result = gate([GateEntry("a", "pass", 0.84)], min_score=0.85)
    assert (result.passed, result.reasons[-1]) == (False, "a: score 0.84 < min score 0.85")
    assert gate([GateEntry("a", "pass", None)], min_score=0.85).passed is False


def test_gate_skips_excluded_tests_and_fails_unfinished_ones():
    metrics = [
        PerfMetrics(test_name="explore", status="fail", performance_score=0.2, excluded_from_gate=True),
        PerfMetrics(test_type="load", endpoint="/x", status="pass", performance_score=0.93),
    ]
    result = gate(metrics, min_score=0.85)
    assert result.passed is True
    assert result.reasons == [
        "1 of 1 counted test(s) passed the gate",
        "explore: excluded from the gate (status fail)",
    ]
    assert (
        gate([GateEntry("crashed", None, None)]).reasons[-1] == "crashed: no status (the test did not finish)"
    )
    only_excluded = gate([GateEntry("x", "fail", 0.1, excluded=True)])
    assert (only_excluded.passed, only_excluded.reasons[0]) == (True, "no test counts toward the gate")
