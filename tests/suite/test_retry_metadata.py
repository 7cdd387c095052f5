"""Issue 4 follow-ups (spec cycle 18): how long a staged retry runs, which rate a throttled retry names, a
Studio reviewer's retryWith, and the retry metadata the attempt ledger keeps per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from perf_builders import judged_test

from sk_loadagent.models.metrics import PerfMetrics, PhaseSummary, Violation
from sk_loadagent.suite.execution_plan import ExecutionPlan, interpret
from sk_loadagent.suite.inputs import load_inputs
from sk_loadagent.suite.judge import recommend
from sk_loadagent.suite.retries import AttemptLedger

SAMPLE_PLAN = Path(__file__).parents[2] / "samples" / "vetclinic" / "test-suite.plan.yaml"
MISS = Violation(metric="latencyP99", limit=120, observed=130, severity="minor", source="file", message="p99")


_judged = judged_test


def _plan(
    tmp_path: Path, duration: str = "60s", annotations: list[dict[str, Any]] | None = None
) -> ExecutionPlan:
    plan = {
        "traceId": "proj-945",
        "moduleId": "CheckoutService",
        "editionId": "vetclinic",
        "baseUrl": "http://127.0.0.1:9",
        "endpoint": "/checkout/submit",
        "tests": [{"type": "load", "rps": 100, "duration": duration}],
    }
    path = None
    if annotations:
        path = tmp_path / "studio.annotation.yaml"
        path.write_text(yaml.safe_dump({"annotations": annotations}))
    return interpret(load_inputs(plan, annotations=path))


def _sample(adjustments: dict[int, dict[str, Any]] | None = None) -> ExecutionPlan:
    return interpret(load_inputs(SAMPLE_PLAN), target_url="http://127.0.0.1:9", adjustments=adjustments)


# -- staged: a quarter of the duration, at least 15 s, never longer than the test -----------------------


@pytest.mark.parametrize(
    ("ran_for", "staged"),
    [(1.0, "1s"), (10.0, "10s"), (40.0, "15s"), (60.0, "15s"), (100.0, "25s"), (None, "15s")],
)
def test_a_staged_retry_is_a_quarter_at_least_15s_and_never_longer(
    ran_for: float | None, staged: str
) -> None:
    decision = recommend(_judged("fail", 0.4, test_duration=ran_for), None, attempt=0)
    assert (decision["strategy"]["0"], decision["adjustments"]["0"]) == ("staged", {"duration": staged})


def test_a_staged_retry_shortens_the_planned_duration_not_the_measured_one(tmp_path: Path) -> None:
    # The plan says 8 s; the run (ramp, drain) took 11 s: the retry is judged against the plan.
    decision = recommend(_judged("fail", 0.4, test_duration=11.0), _plan(tmp_path, "8s"), attempt=0)
    assert decision["adjustments"]["0"] == {"duration": "8s"}
    assert decision["reasons"]["0"] == "status fail: staged retry 1 of 3 (duration 8s)"


# -- throttled: the planned peak rate, not the run's mean ---------------------------------------------


def _failing_spike(**fields: Any) -> PerfMetrics:
    # The sample spike: 50 rps baseline (not measured), 300 rps for 5 s, 50 rps recovery for 3 s.
    values: dict[str, Any] = {"target_rps": (300 * 5 + 50 * 3) / 8, **fields}
    return _judged("fail", 0.6, test_type="spike", test_index=1, violations=[MISS, MISS], **values)


def test_the_plan_records_the_planned_peak_rate_of_each_test() -> None:
    plan = _sample()
    assert plan.tests[1].test_type == "spike"
    assert plan.tests[1].planned_peak_rps == 300.0
    # A retry's adjustments do not change what was planned.
    assert _sample({1: {"loadFactor": 0.6}}).tests[1].planned_peak_rps == 300.0


def test_a_throttled_spike_names_60_percent_of_its_planned_peak() -> None:
    decision = recommend(_failing_spike(), _sample(), attempt=0)
    assert decision["adjustments"]["1"] == {"loadFactor": 0.6, "rps": 180.0}
    # What the decision names is what the interpreter will run.
    assert _sample({1: decision["adjustments"]["1"]}).tests[1].test.rps == 180.0


def test_without_a_plan_the_peak_comes_from_the_run_s_own_schedule() -> None:
    phases = [
        PhaseSummary(name="baseline", start=0, end=2, measured=False, target_rps=50),
        PhaseSummary(name="spike", start=2, end=7, measured=True, target_rps=300),
        PhaseSummary(name="recovery", start=7, end=10, measured=True, target_rps=50),
    ]
    decision = recommend(_failing_spike(phases=phases), None, attempt=0)
    assert decision["adjustments"]["1"] == {"loadFactor": 0.6, "rps": 180.0}


def test_a_second_throttle_names_the_same_rate_that_apply_adjustments_runs() -> None:
    first = recommend(_failing_spike(), _sample(), attempt=0)["adjustments"]["1"]
    replanned = _sample({1: first})
    # The throttled attempt ran at 180 rps (mean 123.75) and failed again by a small margin.
    again = _failing_spike(target_rps=123.75, retry_attempt=1)
    second = recommend(again, replanned, attempt=1)["adjustments"]["1"]
    assert second == {"loadFactor": 0.6, "rps": 180.0}
    assert _sample({1: second}).tests[1].test.rps == 180.0


# -- Studio retryWith ------------------------------------------------------------------------------------


def test_retry_with_replaces_the_strategy_and_its_adjustments(tmp_path: Path) -> None:
    plan = _plan(tmp_path, annotations=[{"testType": "load", "retryWith": {"rps": 40, "duration": "20s"}}])
    decision = recommend(_judged("fail", 0.4, test_duration=60.0), plan, attempt=0)
    assert decision["strategy"]["0"] == "throttled"
    assert decision["adjustments"]["0"] == {"rps": 40.0, "duration": "20s"}
    assert decision["triggers"]["0"] == "status fail"
    assert decision["reasons"]["0"] == (
        "status fail: throttled retry 1 of 3 set by Studio retryWith (rps 40.0, duration 20s)"
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
    plan = _plan(tmp_path, annotations=[{"moduleId": "CheckoutService", "retryWith": retry_with}])
    decision = recommend(_judged("fail", 0.4), plan, attempt=0)
    assert (decision["strategy"]["0"], decision["adjustments"]["0"]) == (strategy, adjustments)


def test_retry_with_does_not_trigger_a_retry_by_itself(tmp_path: Path) -> None:
    plan = _plan(tmp_path, annotations=[{"testType": "load", "retryWith": {"rps": 40}}])
    decision = recommend(_judged("warning", 0.8), plan, attempt=0)
    assert (decision["retry"], decision["reasons"]["0"]) == (False, "no retry trigger (status warning)")


# -- the ledger keeps trigger and original score ---------------------------------------------------------


def test_the_ledger_records_trigger_original_score_and_strategy() -> None:
    ledger = AttemptLedger()
    failed = _judged("fail", 0.42, test_duration=60.0)
    first = recommend(failed, None, attempt=0)
    ledger.record(0, failed, first)
    recovered = _judged("warning", 0.81, test_duration=15.0, retry_attempt=1)
    ledger.record(1, recovered, recommend(recovered, None, attempt=1))

    merged = ledger.merged(max_retries=3)
    assert merged["tests"][0]["retry"] == {
        "retryAttempt": 1,
        "originalStatus": "fail",
        "originalScore": 0.42,
        "trigger": "status fail",
        "strategy": "staged",
        "adjustments": {"duration": "15s"},
        "reason": "status fail: staged retry 1 of 3 (duration 15s)",
        "outcome": "recovered",
    }
