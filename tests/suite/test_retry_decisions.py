"""Issues 4 and 8 (spec cycle 18), the decision half: which judged tests ThresholdEvaluator.recommend_retry
retries, with which strategy, adjustments and cool-down, which it escalates at once, and how the retry
budget and the triggers already used limit it.

The loop half (the planner re-running the chain with retryAttempt in KernelArguments) is in
test_retry_runs.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from perf_builders import judged_test

from sk_loadagent.memory import MemoryStore
from sk_loadagent.models.metrics import GeneratorStats, LatencySummary, PerfMetrics, TimelinePoint
from sk_loadagent.suite.execution_plan import ExecutionPlan, interpret
from sk_loadagent.suite.inputs import load_inputs
from sk_loadagent.suite.judge import compare_test, recommend
from sk_loadagent.suite.sources import Sources


def _plan(retry_on_fail: bool = False, max_retries: int | None = None, tests: int = 1) -> ExecutionPlan:
    return interpret(load_inputs(_plan_document(retry_on_fail, max_retries, tests)))


def _plan_document(
    retry_on_fail: bool = False, max_retries: int | None = None, tests: int = 1
) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "traceId": "proj-945",
        "moduleId": "CheckoutService",
        "editionId": "vetclinic",
        "baseUrl": "http://127.0.0.1:9",
        "endpoint": "/checkout/submit",
        "retryOnFail": retry_on_fail,
        "tests": [{"type": "load", "rps": 100, "duration": "60s", "rampUp": "0s"}] * tests,
    }
    if max_retries is not None:
        plan["maxRetries"] = max_retries
    return plan


_judged = judged_test


def _decide(
    test: PerfMetrics, plan: ExecutionPlan | None = None, attempt: int = 0, **kw: Any
) -> dict[str, Any]:
    return recommend(test, plan, attempt=attempt, **kw)


def _only(decision: dict[str, Any]) -> tuple[str, dict[str, Any], float]:
    assert decision["retry"] is True
    assert decision["tests"] == [0]
    return decision["strategy"]["0"], decision["adjustments"]["0"], decision["cooldownSeconds"]


def _storm(**fields: Any) -> PerfMetrics:
    windows = [TimelinePoint(t=float(i), rps=0, errors=50, phase="steady") for i in range(6)]
    return _judged("fail", 0.3, error_rate=1.0, errors={"http5xx": 300}, timeline=windows, **fields)


def test_a_failed_test_without_a_trigger_is_neither_retried_nor_escalated() -> None:
    decision = _decide(_judged("fail", 0.62))
    assert (decision["retry"], decision["tests"], decision["escalated"]) == (False, [], [])
    assert decision["reasons"]["0"] == "no retry trigger (status fail)"


def test_a_deterministic_failure_is_escalated_at_once_with_its_reason() -> None:
    decision = _decide(_storm(), _plan(retry_on_fail=True))
    assert (decision["retry"], decision["escalated"]) == (False, [0])
    assert decision["reasons"]["0"] == (
        "error storm: 100 % of requests failed (http5xx) in 6 of 6 windows: "
        "a retry would reproduce it: escalate"
    )
    assert decision["triggers"]["0"].startswith("error storm")


def test_retry_on_fail_retries_a_degraded_test_once_with_the_same_parameters() -> None:
    plan = _plan(retry_on_fail=True)
    decision = _decide(_judged("degraded", 0.7), plan)
    assert _only(decision) == ("standard", {}, 10.0)
    assert decision["kinds"] == {"0": "retry-on-fail"}
    assert decision["expectedSeconds"] == 60.0  # the planned schedule (no budget given: no overhead)
    again = _decide(
        _judged("degraded", 0.7, retry_attempt=1), plan, attempt=1, retried_for={"0": ["retry-on-fail"]}
    )
    assert (again["retry"], again["escalated"]) == (False, [0])
    assert (
        again["reasons"]["0"] == "retryOnFail, but a retry for it already ran and the verdict held: escalate"
    )


def test_degraded_with_a_flakiness_pattern_in_history_gets_a_memory_guided_retry(
    kit, store: MemoryStore
) -> None:
    for i, status in enumerate(["pass", "degraded", "pass", "fail", "pass"]):
        kit.seed_run(store, kit.measured(100, seed=i), at=kit.T0 + kit.hours(i), status=status)
    compared = compare_test(_judged("degraded", 0.7, **_scope(kit)), None, store, Sources())
    assert compared.baseline_comparison is not None
    assert compared.baseline_comparison.flaky_history is True

    assert _only(_decide(compared)) == ("memory-guided", {}, 10.0)


def test_outages_between_passes_are_no_flakiness_pattern(kit, store: MemoryStore) -> None:
    """An outage measured the infrastructure, not the service: it cannot make the service's history flaky."""
    for i, status in enumerate(["pass", "fail", "pass", "fail", "pass"]):
        outage = "every connection reset" if status == "fail" else None
        run = kit.measured(100, seed=i, infrastructure_failure=outage)
        kit.seed_run(store, run, at=kit.T0 + kit.hours(i), status=status)
    compared = compare_test(_judged("degraded", 0.7, **_scope(kit)), None, store, Sources())
    assert compared.baseline_comparison is not None
    assert not compared.baseline_comparison.flaky_history


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


def test_a_score_within_its_noise_of_the_band_above_is_re_measured_with_the_real_limits(
    tmp_path: Path,
) -> None:
    # The noise is the score's sensitivity to latency (5 % run-to-run, ±1.96 σ) under the test's limits.
    # Under the default 800 ms limit a p95 of 110 ms cannot move the score; under a 100 ms limit it can
    # (±0.036), and a degraded 0.74 is then within reach of the warning band.
    near = _judged("degraded", 0.74, latency=LatencySummary(p50=40, p95=110, p99=120))
    assert _decide(near, _plan())["retry"] is False
    limits = tmp_path / "perf-thresholds.yaml"
    limits.write_text("thresholds:\n  latencyP95: 100\n", encoding="utf-8")
    plan = interpret(load_inputs(_plan_document(), thresholds=[limits]))
    decision = _decide(near, plan)
    assert (decision["kinds"]["0"], decision["strategy"]["0"]) == ("score-within-noise", "standard")
    assert decision["triggers"]["0"] == (
        "score 0.74 is within its noise (±0.04, from run-to-run noise 5.0 % and the windows' p95 spread 0 %) "
        "of the warning band"
    )


def test_an_open_model_generator_behind_its_schedule_is_throttled_to_60_percent_of_the_plan() -> None:
    behind = GeneratorStats(
        requests=6000, cpu_seconds=50, cpu_pct=85, late_starts=600, dropped=0, workers=1, saturated=True
    )
    decision = _decide(_judged("degraded", 0.7, generator=behind), _plan())
    assert _only(decision) == ("throttled", {"loadFactor": 0.6, "rps": 60.0}, 10.0)
    assert decision["reasons"]["0"].startswith(
        "generator saturation: 10 % late starts: throttled retry 1 of 3"
    )


def test_retries_that_do_not_fit_the_budget_are_not_made_and_failing_tests_escalate() -> None:
    plan = _plan(retry_on_fail=True, tests=2)
    suite = PerfMetrics(tests=[_judged("degraded", 0.7, test_index=i) for i in range(2)])
    # The first attempt ran 2 × 60 s of schedule in 130 s: 5 s of overhead per test; 70 s are left.
    budget = {"secondsLeft": 70.0, "attemptSeconds": 130.0}
    decision = _decide(suite, plan, budget=budget)
    assert (decision["tests"], decision["escalated"]) == ([0], [1])
    assert decision["expectedSeconds"] == 65.0
    assert decision["reasons"]["1"] == (
        "retryOnFail: a standard retry of 1m does not fit the 5s left of the retry budget"
    )
    nothing_left = _decide(suite, plan, budget={"secondsLeft": 0.0, "attemptSeconds": 130.0})
    assert (nothing_left["retry"], nothing_left["escalated"]) == (False, [0, 1])


def test_a_passing_test_is_never_retried() -> None:
    decision = _decide(_judged("pass", 0.95), _plan(retry_on_fail=True))
    assert (decision["retry"], decision["tests"]) == (False, [])
    assert decision["reasons"]["0"] == "status pass: a pass is never retried"


def test_at_most_three_retries_by_default_then_escalate() -> None:
    plan = _plan(retry_on_fail=True)
    failing = _judged("fail", 0.3)
    assert [_decide(failing, plan, attempt=a)["retry"] for a in range(5)] == [True, True, True, False, False]
    assert _decide(failing, plan, attempt=3)["reasons"]["0"] == (
        "retryOnFail, but 3 retries are used up: escalate (regression alert)"
    )
    assert _decide(failing, plan, attempt=3)["escalated"] == [0]


def test_the_plan_sets_the_retry_budget_of_attempts() -> None:
    plan = _plan(retry_on_fail=True, max_retries=1)
    failing = _judged("fail", 0.3)
    assert [_decide(failing, plan, attempt=a)["retry"] for a in range(3)] == [True, False, False]


def test_a_test_kept_out_of_the_gate_is_never_retried() -> None:
    decision = _decide(_judged("fail", 0.3, excluded_from_gate=True), _plan(retry_on_fail=True))
    assert decision == {
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
        "previousScore": None,
    }


# -- the interpreter applies a decision to the planned test ------------------------------------------------

SAMPLE_PLAN = Path(__file__).parents[2] / "samples" / "vetclinic" / "test-suite.plan.yaml"


def _replanned(adjustments: dict[int, dict[str, Any]]) -> ExecutionPlan:
    return interpret(load_inputs(SAMPLE_PLAN), target_url="http://127.0.0.1:9", adjustments=adjustments)


def test_a_throttled_spike_keeps_its_shape_at_60_percent_of_the_plan() -> None:
    # The sample spike: 50 rps baseline (not measured), 300 rps for 5 s, 50 rps recovery for 3 s.
    behind = GeneratorStats(
        requests=2000, cpu_seconds=8, cpu_pct=80, late_starts=100, dropped=3, workers=1, saturated=True
    )
    spike = _judged(
        "degraded", 0.6, test_type="spike", test_index=1, target_rps=(300 * 5 + 50 * 3) / 8, generator=behind
    )
    decision = _decide(spike, _replanned({}))
    assert decision["strategy"]["1"] == "throttled"
    assert decision["adjustments"]["1"] == {"loadFactor": 0.6, "rps": 180.0}

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


def test_the_plan_records_each_tests_whole_schedule() -> None:
    plan = _replanned({})
    # Load: 2 s ramp-up + 12 s; spike: 3 s baseline + 1 s jump + 5 s + 3 s recovery.
    assert [(t.test_type, t.planned_seconds) for t in plan.tests] == [("load", 14.0), ("spike", 12.0)]
