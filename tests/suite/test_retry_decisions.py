"""Issue 4, rule 4 (spec cycle 18), the decision half: which judged tests ThresholdEvaluator.recommend_retry
retries, with which strategy, adjustments and cool-down; at most 3 retries by default.

The loop half (the planner re-running the chain with retryAttempt in KernelArguments) is in
test_retry_runs.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from perf_builders import judged_test

from sk_loadagent.memory import MemoryStore
from sk_loadagent.models.metrics import (
    GeneratorStats,
    PerfMetrics,
    PhaseSummary,
    ResourceUsage,
    TimelinePoint,
    Violation,
)
from sk_loadagent.suite.execution_plan import ExecutionPlan, interpret
from sk_loadagent.suite.inputs import load_inputs
from sk_loadagent.suite.judge import compare_test, recommend
from sk_loadagent.suite.sources import Sources


def _plan(retry_on_fail: bool = False, max_retries: int | None = None) -> ExecutionPlan:
    plan: dict[str, Any] = {
        "traceId": "proj-945",
        "moduleId": "CheckoutService",
        "editionId": "vetclinic",
        "baseUrl": "http://127.0.0.1:9",
        "endpoint": "/checkout/submit",
        "retryOnFail": retry_on_fail,
        "tests": [{"type": "load", "rps": 100, "duration": "60s"}],
    }
    if max_retries is not None:
        plan["maxRetries"] = max_retries
    return interpret(load_inputs(plan))


_judged = judged_test


def _decide(test: PerfMetrics, plan: ExecutionPlan | None = None, attempt: int = 0) -> dict[str, Any]:
    return recommend(test, plan, attempt=attempt)


def _only(decision: dict[str, Any]) -> tuple[str, dict[str, Any], float]:
    assert decision["retry"] is True
    assert decision["tests"] == [0]
    return decision["strategy"]["0"], decision["adjustments"]["0"], decision["cooldownSeconds"]


def test_a_failed_test_gets_a_staged_retry_of_a_quarter_of_its_duration() -> None:
    decision = _decide(_judged("fail", 0.62))
    assert _only(decision) == ("staged", {"duration": "15s"}, 30.0)
    assert decision["reasons"]["0"] == "status fail: staged retry 1 of 3 (duration 15s)"
    assert decision["previousScore"] == 0.62


def test_a_staged_retry_never_runs_longer_than_the_original_test() -> None:
    decision = _decide(_judged("fail", 0.62, test_duration=1.0))
    assert _only(decision)[1] == {"duration": "1s"}


def test_a_spike_that_failed_by_a_small_margin_is_throttled() -> None:
    miss = Violation(
        metric="latencyP95", limit=800, observed=880, severity="minor", source="default", message="p95"
    )
    spike = _judged("fail", 0.55, test_type="spike", violations=[miss, miss], target_rps=300.0)
    # −40 % of the rate: inside the 30–50 % of cycle 18.
    assert _only(_decide(spike)) == ("throttled", {"loadFactor": 0.6, "rps": 180.0}, 30.0)


def test_a_score_below_050_triggers_even_when_a_reviewer_set_the_status() -> None:
    decision = _decide(_judged("degraded", 0.45))
    assert _only(decision) == ("staged", {"duration": "15s"}, 30.0)
    assert decision["reasons"]["0"].startswith("score 0.45 < 0.50: staged retry 1 of 3")


def test_degraded_with_a_flakiness_pattern_in_history_gets_a_memory_guided_retry(
    kit, store: MemoryStore
) -> None:
    for i, status in enumerate(["pass", "degraded", "pass", "fail", "pass"]):
        kit.seed_run(store, kit.measured(100, seed=i), at=kit.T0 + kit.hours(i), status=status)
    compared = compare_test(_judged("degraded", 0.7, **_scope(kit)), None, store, Sources())
    assert compared.baseline_comparison is not None
    assert compared.baseline_comparison.flaky_history is True

    assert _only(_decide(compared)) == ("memory-guided", {}, 60.0)


def test_degraded_without_flakiness_or_retry_on_fail_is_not_retried(kit, store: MemoryStore) -> None:
    for i in range(5):
        kit.seed_run(store, kit.measured(100, seed=i), at=kit.T0 + kit.hours(i))
    compared = compare_test(_judged("degraded", 0.7, **_scope(kit)), None, store, Sources())
    assert compared.baseline_comparison is not None
    assert not compared.baseline_comparison.flaky_history
    decision = _decide(compared)
    assert decision["retry"] is False
    assert decision["reasons"]["0"] == "no retry trigger (status degraded)"


def _scope(kit) -> dict[str, Any]:
    return {
        "module_id": kit.MODULE,
        "edition_id": kit.EDITION,
        "endpoint": kit.ENDPOINT,
        "load_profile": kit.PROFILE,  # the series the runs of ``kit.measured`` are stored in
    }


def test_retry_on_fail_retries_a_degraded_test_then_throttles_a_second_time() -> None:
    plan = _plan(retry_on_fail=True)
    assert _only(_decide(_judged("degraded", 0.7), plan)) == ("standard", {}, 30.0)
    again = _judged("degraded", 0.7, retry_attempt=1)
    assert _only(_decide(again, plan, attempt=1)) == ("throttled", {"loadFactor": 0.6, "rps": 60.0}, 30.0)


def _cold_start() -> dict[str, Any]:
    p95s = [60, 55, 50] + [8] * 10  # the first three windows ≥ 3× the rest
    return {
        "timeline": [TimelinePoint(t=float(i), rps=100, p95=v, phase="steady") for i, v in enumerate(p95s)],
        "phases": [PhaseSummary(name="steady", start=0, end=13, measured=True)],
    }


@pytest.mark.parametrize(
    ("fields", "strategy", "adjustments", "cooldown", "trigger"),
    [
        (_cold_start(), "warm-start", {"warmup": "10s"}, 0.0, "infrastructure anomaly: cold start"),
        (
            {
                "generator": GeneratorStats(
                    requests=1000,
                    cpu_seconds=9.8,
                    cpu_pct=98,
                    late_starts=120,
                    dropped=0,
                    workers=1,
                    saturated=True,
                )
            },
            "throttled",
            {"loadFactor": 0.6, "rps": 60.0},
            30.0,
            "infrastructure anomaly: generator saturation",
        ),
        (
            {"resources": ResourceUsage(samples=20, cpu_avg_pct=40, cpu_peak_pct=97)},
            "standard",
            {},
            60.0,
            "infrastructure anomaly: target CPU spike",
        ),
    ],
    ids=["cold-start", "generator-saturation", "cpu-spike"],
)
def test_an_infrastructure_anomaly_is_retried_first_whatever_the_status(
    fields: dict[str, Any], strategy: str, adjustments: dict[str, Any], cooldown: float, trigger: str
) -> None:
    decision = _decide(_judged("warning", 0.85, **fields))
    assert _only(decision) == (strategy, adjustments, cooldown)
    assert decision["reasons"]["0"].startswith(trigger)


@pytest.mark.parametrize("status", ["pass", "warning"])
def test_a_passing_or_warning_test_is_not_retried(status: str) -> None:
    decision = _decide(_judged(status, 0.8), _plan(retry_on_fail=True))
    assert (decision["retry"], decision["tests"]) == (False, [])


def test_at_most_three_retries_by_default_then_escalate() -> None:
    failing = _judged("fail", 0.3)
    assert [_decide(failing, attempt=a)["retry"] for a in range(5)] == [True, True, True, False, False]
    assert _decide(failing, attempt=2)["reasons"]["0"] == "status fail: staged retry 3 of 3 (duration 15s)"
    assert _decide(failing, attempt=3)["reasons"]["0"] == (
        "status fail, but 3 retries are used up: escalate (regression alert)"
    )


def test_the_plan_sets_the_retry_budget() -> None:
    plan = _plan(max_retries=1)
    failing = _judged("fail", 0.3)
    assert [_decide(failing, plan, attempt=a)["retry"] for a in range(3)] == [True, False, False]


def test_a_test_kept_out_of_the_gate_is_never_retried() -> None:
    decision = _decide(_judged("fail", 0.3, excluded_from_gate=True))
    assert decision == {
        "retry": False,
        "tests": [],
        "strategy": {},
        "adjustments": {},
        "reasons": {},
        "triggers": {},
        "cooldownSeconds": 0.0,
        "previousScore": None,
    }


# -- the interpreter applies a decision to the planned test ------------------------------------------------

SAMPLE_PLAN = Path(__file__).parents[2] / "samples" / "vetclinic" / "test-suite.plan.yaml"


def _replanned(adjustments: dict[int, dict[str, Any]]) -> ExecutionPlan:
    return interpret(load_inputs(SAMPLE_PLAN), target_url="http://127.0.0.1:9", adjustments=adjustments)


def test_a_throttled_spike_keeps_its_shape_at_60_percent_of_the_plan() -> None:
    # The sample spike: 50 rps baseline (not measured), 300 rps for 5 s, 50 rps recovery for 3 s.
    measured_mean = (300 * 5 + 50 * 3) / 8
    missed = Violation(
        metric="latencyP99", limit=120, observed=130, severity="minor", source="file", message="p99"
    )
    spike = _judged(
        "fail", 0.6, test_type="spike", test_index=1, target_rps=measured_mean, violations=[missed, missed]
    )
    decision = _decide(spike)
    assert decision["strategy"]["1"] == "throttled"

    planned = _replanned({1: decision["adjustments"]["1"]}).tests[1].test

    assert (planned.baseline_rps, planned.rps) == (30.0, 180.0)


def test_a_second_throttle_runs_at_60_percent_of_the_plan_again() -> None:
    # An "rps" beside the factor is only reported (an older decision computed it from the throttled run);
    # the plan's 100 rps is what the factor applies to.
    planned = _replanned({0: {"loadFactor": 0.6, "rps": 36.0}}).tests[0].test
    assert planned.rps == 60.0


def test_staged_and_warm_start_adjustments_reach_the_planned_test() -> None:
    plan = _replanned({0: {"duration": "3s"}, 1: {"warmup": "10s"}})
    assert plan.tests[0].test.duration == 3.0
    assert plan.tests[1].test.warmup == 10.0
    assert plan.tests[0].adjustments == {"duration": "3s"}
