"""Status rules (score band, thresholds, regression), reasons, and the CI gate."""

from __future__ import annotations

import pytest

from sk_loadagent.analysis import GateEntry, PreviousRun, classify, gate
from sk_loadagent.analysis.verdict import gate_problems, threshold_status
from sk_loadagent.models.metrics import (
    BaselineComparison,
    Interval,
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


# -- errors fail (spec cycle 11) ----------------------------------------------------------------------------


def _error_violation(observed: float, limit: float = 0.01) -> Violation:
    severity = "minor" if observed <= 2 * limit else "significant"
    return Violation(
        metric="errorRate",
        limit=limit,
        observed=observed,
        severity=severity,
        source="default",
        message=f"error rate {observed} > {limit}",
    )


def test_an_error_rate_past_twice_its_limit_fails_whatever_the_score():
    verdict = classify(0.95, [_error_violation(0.03)], None, error_rate=0.03)
    assert verdict.status == "fail"
    assert "error rate 3.0 % is more than twice the 1.0 % errorRateMax (significant): fail" in verdict.reasons
    # Within twice the limit it is a minor violation: a warning, as cycle 8 says.
    assert classify(0.95, [_error_violation(0.02)], None, error_rate=0.02).status == "warning"


def test_a_run_in_which_nothing_succeeded_fails_even_when_studio_ignores_the_error_rate():
    verdict = classify(0.55, [_error_violation(1.0)], None, error_rate=1.0, ignore={"errorRate"})
    assert (verdict.status, verdict.violations) == ("fail", ())
    assert verdict.reasons[1:] == [
        "all thresholds met",
        "ignored by a Studio annotation: error rate 1.0 > 0.01",
        "no request succeeded (error rate 100 %): fail",
    ]


# -- infrastructure failures and anomalies ------------------------------------------------------------------


def test_an_infrastructure_failure_fails_and_is_not_judged_as_a_regression():
    outage = "infrastructure failure: 1,000 of 1,000 requests failed (100 %), ..."
    previous = PreviousRun("r1", 1.0, "pass")
    verdict = classify(
        0.35, [], _regressed(100, 500), infrastructure_failure=outage, previous=previous, error_rate=1.0
    )
    assert (verdict.status, verdict.regression) == ("fail", False)
    assert f"{outage}: fail" in verdict.reasons
    assert verdict.reasons[-1] == (
        "not judged against the baseline or the previous run: an outage measures no performance"
    )


def test_an_infrastructure_anomaly_makes_a_pass_a_warning_and_leaves_other_statuses():
    anomaly = "cold start: the first 3 windows' p95 (90 ms) is 4.5× the rest (20 ms)"
    verdict = classify(0.97, [], None, infrastructure_anomaly=anomaly)
    assert verdict.status == "warning"
    assert verdict.reasons[-1] == f"{anomaly}: a pass with an infrastructure anomaly is a warning"
    degraded = classify(0.6, [], None, infrastructure_anomaly=anomaly)
    assert degraded.status == "degraded"
    assert all("anomaly" not in r for r in degraded.reasons)


# -- Studio flags and the previous run -----------------------------------------------------------------------


def test_studio_ignores_are_applied_by_classify():
    violations = [_violation("significant", "cpuUsagePct"), _violation("minor")]
    verdict = classify(0.95, violations, _regressed(100, 140), ignore={"cpu", "baseline"})
    assert verdict.violations == (violations[1],)
    assert (verdict.status, verdict.regression) == ("warning", False)
    assert verdict.reasons[1:] == [
        "1 threshold violation (minor): latencyP95 minor",
        "ignored by a Studio annotation: cpuUsagePct significant",
        "the baseline comparison is ignored by a Studio annotation",
    ]


def test_the_previous_run_rule_is_applied_by_classify_once():
    comparison = BaselineComparison(regressed=False, exploratory=False, baseline_run_id="b")
    verdict = classify(0.70, [], comparison, previous=PreviousRun("p", 0.95, "pass"))
    assert (verdict.status, verdict.regression) == ("degraded", True)
    assert verdict.reasons[-1] == (
        "score fell 0.25 (0.95 → 0.70) and status went from pass to degraded since run p: regression"
    )
    # When the previous run is the baseline and it already found the regression, it is said once.
    as_baseline = comparison.model_copy(update={"baseline_score": 0.95, "baseline_status": "pass"})
    once = classify(0.70, [], as_baseline, previous=PreviousRun("b", 0.95, "pass"))
    assert once.regression is True
    assert [r for r in once.reasons if "since run" in r] == []


def test_a_studio_override_is_applied_last():
    verdict = classify(
        0.3, [_error_violation(0.5)], None, error_rate=0.5, infrastructure_anomaly="x", override="warning"
    )
    assert verdict.status == "warning"
    assert verdict.reasons[-1] == "status set to warning by a Studio annotation (scoreOverride)"


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


def test_warn_on_regression_makes_a_regression_a_warning_that_passes_the_gate():
    verdict = classify(0.97, [], _regressed(100, 160), warn_on_regression=True)

    assert (verdict.status, verdict.regression) == ("warning", True)
    assert verdict.reasons[-2:] == [
        "p95 regressed +60% vs the baseline (confidence 0.97): at least degraded",
        "warnOnRegression: the regression is a warning and does not fail the gate",
    ]
    assert gate([GateEntry("a", verdict.status, 0.97)], fail_on_degraded=True).passed is True


def test_warn_on_regression_leaves_the_other_rules_alone():
    # Two minor violations are degraded by the threshold rule, whatever the regression flag says.
    verdict = classify(
        0.97, [_violation("minor"), _violation("minor")], _regressed(100, 160), warn_on_regression=True
    )
    assert verdict.status == "degraded"
    assert classify(0.97, [], _regressed(100, 110), warn_on_regression=True).reasons[-1] == (
        "warnOnRegression: the regression is a warning and does not fail the gate"
    )


def test_gate_problems_are_those_of_one_test():
    assert gate_problems(GateEntry("b", "degraded", 0.70), fail_on_degraded=True) == [
        "status degraded (failOnDegraded)"
    ]
    assert gate_problems(GateEntry("b", "degraded", 0.70)) == []
    assert gate_problems(GateEntry("x", "fail", 0.1, excluded=True)) == []
    assert gate_problems(PerfMetrics(status="pass", performance_score=0.8), min_score=0.85) == [
        "score 0.80 < min score 0.85"
    ]
