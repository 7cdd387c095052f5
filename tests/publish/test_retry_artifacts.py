"""Retry information in the published artifacts (spec cycles 11, 18, 19): regression-alert.yaml's
retryAttempt, load-trace-map.yaml's retry metadata, and the preview's before/after fields."""

from __future__ import annotations

from typing import Any

from perf_builders import judged_test

from sk_loadagent.models.metrics import BaselineComparison, PerfMetrics, TimelinePoint
from sk_loadagent.publish.artifacts import alert, preview, trace_map
from sk_loadagent.suite.judge import recommend
from sk_loadagent.suite.retries import AttemptLedger


def _test(status: str, score: float, attempt: int = 0, **fields: Any) -> PerfMetrics:
    return judged_test(status, score, retry_attempt=attempt, **fields)


COLD = [TimelinePoint(t=float(i), rps=100, p95=v) for i, v in enumerate([400, 380, 300] + [50] * 10)]
WARM_START = "cold start: the first 3 windows' p95 (380 ms) is 7.6× the rest (50 ms): warm-start retry 1 of 3"


def _retried(final_status: str, final_score: float) -> PerfMetrics:
    """A test that failed (0.42) after a cold start, was retried with a warm start and ended as given."""
    ledger = AttemptLedger()
    run = _test("fail", 0.42, timeline=COLD)
    ledger.record(0, run, recommend(run, None, attempt=0))
    run = _test(final_status, final_score, 1, test_duration=15.0)
    ledger.record(1, run, recommend(run, None, attempt=1, retried_for=ledger.retried_for()))
    return PerfMetrics.model_validate(ledger.merged(max_retries=3))


def test_the_preview_shows_the_status_and_score_before_the_retry_and_why() -> None:
    tile = preview(_retried("warning", 0.81)).to_wire()
    assert (tile["status"], tile["performanceScore"], tile["retryAttempt"]) == ("warning", 0.81, 1)
    assert (tile["previousStatus"], tile["previousScore"], tile["badge"]) == (
        "fail",
        0.42,
        "Recovered after retry",
    )
    assert tile["retryExplanation"] == (
        f"{WARM_START} (warmup 10s). fail 0.42 → warning 0.81: recovered after retry."
    )


def test_an_escalated_retry_says_so_in_the_preview_and_the_alert() -> None:
    suite = _retried("fail", 0.4)
    tile = preview(suite).to_wire()
    assert (tile["previousStatus"], tile["previousScore"], tile["badge"]) == (
        "fail",
        0.42,
        "Escalated for review",
    )
    assert tile["retryExplanation"] == (
        f"{WARM_START} (warmup 10s). fail 0.42 → fail 0.40: escalated for review."
    )
    found = alert(suite)
    assert found is not None
    assert (found.retry_attempt, found.escalated, found.status) == (1, True, "fail")


def test_a_run_without_retries_has_no_before_fields_and_alerts_with_retry_attempt_0() -> None:
    suite = PerfMetrics.model_validate(
        {**_test("degraded", 0.6).to_wire(), "tests": [_test("degraded", 0.6).to_wire()]}
    )
    tile = preview(suite).to_wire()
    assert {"previousStatus", "previousScore", "retryExplanation", "badge"} & set(tile) == set()
    found = alert(suite)
    assert found is not None
    assert found.retry_attempt == 0


def test_the_trace_map_carries_each_test_s_retry_metadata() -> None:
    entry = trace_map(_retried("warning", 0.81)).to_wire()["tests"][0]
    assert entry["retryAttempt"] == 1
    assert entry["retry"] == {
        "retryAttempt": 1,
        "originalStatus": "fail",
        "originalScore": 0.42,
        "trigger": "cold start: the first 3 windows' p95 (380 ms) is 7.6× the rest (50 ms)",
        "strategy": "warm-start",
        "adjustments": {"warmup": "10s"},
        "reason": f"{WARM_START} (warmup 10s)",
        "outcome": "recovered",
    }
    unretried = trace_map(_test("pass", 0.95)).to_wire()["tests"][0]
    assert {"retryAttempt", "retry"} & set(unretried) == set()


def test_the_preview_regression_follows_the_test_s_own_regression_flag() -> None:
    # pass → degraded since the baseline: the verdict says regression, the p95 did not regress.
    comparison = BaselineComparison(regressed=False, baseline_status="pass", exploratory=False)
    test = _test("degraded", 0.7, regression=True, baseline_comparison=comparison)
    suite = PerfMetrics.model_validate({**test.to_wire(), "tests": [test.to_wire()]})
    tile = preview(suite).to_wire()
    assert (tile["regression"], suite.regression) == (True, True)
    assert "compare-baseline" in tile["actions"]
    calm = _test("pass", 0.95, regression=False, baseline_comparison=comparison)
    assert preview(calm).to_wire()["regression"] is False
