"""Issues 4 and 8 (spec cycle 18): which rate a throttled retry names, a Studio reviewer's retryWith, and the
retry metadata the attempt ledger keeps per test — "Recovered after retry" only when the first status was
worse than the last."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from perf_builders import judged_test

from sk_loadagent.models.metrics import GeneratorStats, PerfMetrics, PhaseSummary, TimelinePoint
from sk_loadagent.suite.execution_plan import ExecutionPlan, interpret
from sk_loadagent.suite.inputs import load_inputs
from sk_loadagent.suite.judge import recommend
from sk_loadagent.suite.retries import AttemptLedger, retry_outcome

SAMPLE_PLAN = Path(__file__).parents[2] / "samples" / "vetclinic" / "test-suite.plan.yaml"
BEHIND = GeneratorStats(
    requests=2000, cpu_seconds=8, cpu_pct=80, late_starts=100, dropped=3, workers=1, saturated=True
)


_judged = judged_test


def _plan(tmp_path: Path, annotations: list[dict[str, Any]] | None = None) -> ExecutionPlan:
    plan = {
        "traceId": "proj-945",
        "moduleId": "CheckoutService",
        "editionId": "vetclinic",
        "baseUrl": "http://127.0.0.1:9",
        "endpoint": "/checkout/submit",
        "tests": [{"type": "load", "rps": 100, "duration": "60s"}],
    }
    path = None
    if annotations:
        path = tmp_path / "studio.annotation.yaml"
        path.write_text(yaml.safe_dump({"annotations": annotations}))
    return interpret(load_inputs(plan, annotations=path))


def _sample(adjustments: dict[int, dict[str, Any]] | None = None) -> ExecutionPlan:
    return interpret(load_inputs(SAMPLE_PLAN), target_url="http://127.0.0.1:9", adjustments=adjustments)


# -- throttled: the planned peak rate, not the run's mean ---------------------------------------------


def _behind_spike(**fields: Any) -> PerfMetrics:
    # The sample spike: 50 rps baseline (not measured), 300 rps for 5 s, 50 rps recovery for 3 s.
    values: dict[str, Any] = {"target_rps": (300 * 5 + 50 * 3) / 8, "generator": BEHIND, **fields}
    return _judged("degraded", 0.6, test_type="spike", test_index=1, **values)


def test_the_plan_records_the_planned_peak_rate_of_each_test() -> None:
    plan = _sample()
    assert plan.tests[1].test_type == "spike"
    assert plan.tests[1].planned_peak_rps == 300.0
    # A retry's adjustments do not change what was planned.
    assert _sample({1: {"loadFactor": 0.6}}).tests[1].planned_peak_rps == 300.0


def test_a_throttled_spike_names_60_percent_of_its_planned_peak() -> None:
    decision = recommend(_behind_spike(), _sample(), attempt=0)
    assert decision["adjustments"]["1"] == {"loadFactor": 0.6, "rps": 180.0}
    # What the decision names is what the interpreter will run.
    assert _sample({1: decision["adjustments"]["1"]}).tests[1].test.rps == 180.0


def test_without_a_plan_the_peak_comes_from_the_run_s_own_schedule() -> None:
    phases = [
        PhaseSummary(name="baseline", start=0, end=2, measured=False, target_rps=50),
        PhaseSummary(name="spike", start=2, end=7, measured=True, target_rps=300),
        PhaseSummary(name="recovery", start=7, end=10, measured=True, target_rps=50),
    ]
    decision = recommend(_behind_spike(phases=phases), None, attempt=0)
    assert decision["adjustments"]["1"] == {"loadFactor": 0.6, "rps": 180.0}


# -- Studio retryWith ------------------------------------------------------------------------------------


def test_retry_with_replaces_the_strategy_and_its_adjustments(tmp_path: Path) -> None:
    plan = _plan(
        tmp_path,
        annotations=[{"testType": "load", "retryOnFail": True, "retryWith": {"rps": 40, "duration": "20s"}}],
    )
    decision = recommend(_judged("fail", 0.4, test_duration=60.0), plan, attempt=0)
    assert decision["strategy"]["0"] == "throttled"
    assert decision["adjustments"]["0"] == {"rps": 40.0, "duration": "20s"}
    assert decision["triggers"]["0"] == "retryOnFail"
    assert decision["reasons"]["0"] == (
        "retryOnFail: throttled retry 1 of 3 set by Studio retryWith (rps 40.0, duration 20s)"
    )
    replanned = interpret(
        load_inputs(
            {
                "moduleId": "CheckoutService",
                "baseUrl": "http://127.0.0.1:9",
                "endpoint": "/checkout/submit",
                "tests": [{"type": "load", "rps": 100, "duration": "60s"}],
            }
        ),
        adjustments={0: decision["adjustments"]["0"]},
    )
    assert (replanned.tests[0].test.rps, replanned.tests[0].test.duration) == (40.0, 20.0)


@pytest.mark.parametrize(
    ("retry_with", "strategy", "adjustments"),
    [
        ({"duration": "30s"}, "staged", {"duration": "30s"}),
        ({"warmup": "5s"}, "warm-start", {"warmup": "5s"}),
        ({"vus": 4}, "throttled", {"vus": 4}),
    ],
)
def test_retry_with_names_the_strategy_its_parameters_amount_to(
    tmp_path: Path, retry_with: dict[str, Any], strategy: str, adjustments: dict[str, Any]
) -> None:
    annotation = {"moduleId": "CheckoutService", "retryOnFail": True, "retryWith": retry_with}
    decision = recommend(_judged("fail", 0.4), _plan(tmp_path, annotations=[annotation]), attempt=0)
    assert (decision["strategy"]["0"], decision["adjustments"]["0"]) == (strategy, adjustments)


def test_retry_with_does_not_trigger_a_retry_by_itself(tmp_path: Path) -> None:
    plan = _plan(tmp_path, annotations=[{"testType": "load", "retryWith": {"rps": 40}}])
    decision = recommend(_judged("degraded", 0.7), plan, attempt=0)
    assert (decision["retry"], decision["reasons"]["0"]) == (False, "no retry trigger (status degraded)")


# -- the ledger: what retrying did -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "outcome"),
    [
        ("fail", "warning", "recovered"),
        ("degraded", "pass", "recovered"),
        ("warning", "pass", "recovered"),
        ("warning", "warning", "unchanged"),
        ("fail", "degraded", "escalated"),
        ("degraded", "degraded", "escalated"),
        ("warning", "degraded", "escalated"),
    ],
)
def test_recovered_only_when_the_first_status_was_worse_than_the_last(
    first: str, last: str, outcome: str
) -> None:
    assert retry_outcome(first, last) == outcome


def _cold(status: str, score: float, attempt: int = 0) -> PerfMetrics:
    windows = [TimelinePoint(t=float(i), rps=100, p95=v) for i, v in enumerate([400, 380, 300] + [50] * 10)]
    return _judged(status, score, timeline=windows, test_duration=15.0, retry_attempt=attempt)


def test_the_ledger_records_trigger_original_score_and_strategy() -> None:
    ledger = AttemptLedger()
    failed = _cold("fail", 0.42)
    first = recommend(failed, None, attempt=0)
    ledger.record(0, failed, first)
    recovered = _judged("warning", 0.81, test_duration=15.0, retry_attempt=1)
    ledger.record(1, recovered, recommend(recovered, None, attempt=1, retried_for=ledger.retried_for()))

    merged = ledger.merged(max_retries=3)
    assert merged["tests"][0]["retry"] == {
        "retryAttempt": 1,
        "originalStatus": "fail",
        "originalScore": 0.42,
        "trigger": "cold start: the first 3 windows' p95 (380 ms) is 7.6× the rest (50 ms)",
        "strategy": "warm-start",
        "adjustments": {"warmup": "10s"},
        "reason": (
            "cold start: the first 3 windows' p95 (380 ms) is 7.6× the rest (50 ms): warm-start retry 1 of 3 "
            "(warmup 10s)"
        ),
        "outcome": "recovered",
    }
    assert ledger.retried_for() == {"0": ["cold-start"]}


def test_a_retry_that_changed_nothing_is_not_recovered() -> None:
    ledger = AttemptLedger()
    failed = _cold("degraded", 0.7)
    ledger.record(0, failed, recommend(failed, None, attempt=0))
    again = _cold("degraded", 0.7, attempt=1)
    decision = recommend(again, None, attempt=1, retried_for=ledger.retried_for())
    assert (decision["retry"], decision["escalated"]) == (False, [0])
    ledger.record(1, again, decision)
    retry = ledger.merged(max_retries=3)["tests"][0]["retry"]
    assert (retry["originalStatus"], retry["outcome"]) == ("degraded", "escalated")


def test_a_deterministic_failure_is_escalated_without_a_retry() -> None:
    windows = [TimelinePoint(t=float(i), rps=0, errors=50) for i in range(6)]
    storm = _judged("fail", 0.3, error_rate=1.0, errors={"http5xx": 300}, timeline=windows)
    ledger = AttemptLedger()
    ledger.record(0, storm, recommend(storm, None, attempt=0))
    merged = ledger.merged(max_retries=3)
    assert merged["retryAttempt"] == 0
    assert merged["tests"][0]["retry"] == {
        "retryAttempt": 0,
        "originalStatus": "fail",
        "originalScore": 0.3,
        "trigger": "error storm: 100 % of requests failed (http5xx) in 6 of 6 windows",
        "reason": (
            "error storm: 100 % of requests failed (http5xx) in 6 of 6 windows: a retry would reproduce it: "
            "escalate"
        ),
        "outcome": "escalated",
    }


def test_a_pass_carries_no_retry_metadata() -> None:
    ledger = AttemptLedger()
    passing = _cold("pass", 0.95)
    ledger.record(0, passing, recommend(passing, None, attempt=0))
    assert "retry" not in ledger.merged(max_retries=3)["tests"][0]
