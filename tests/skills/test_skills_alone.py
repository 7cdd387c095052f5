"""Every skill works on its own: a fresh kernel holding only that plugin, called through kernel.invoke.

Inputs are small and outputs exact; the load comes from the engine's mock transport (no sockets), and the
steps before a skill are prepared with the SK-free domain functions the other skills wrap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from semantic_kernel import Kernel
from semantic_kernel.exceptions import KernelInvokeException
from semantic_kernel.functions import KernelArguments

from sk_loadagent.engine import MockReply, MockTransport, RunOptions
from sk_loadagent.errors import InputError, root_cause
from sk_loadagent.memory import MemoryStore, SeriesKey, open_store
from sk_loadagent.models.metrics import PerfMetrics, TimelinePoint
from sk_loadagent.skills import (
    LoadRunnerExecutor,
    MemoryPusher,
    PerfMetricCollector,
    PreviewPublisher,
    RegressionComparer,
    RunResultCache,
    TestPlanInterpreter,
    ThresholdEvaluator,
)
from sk_loadagent.suite.execute import TestRun, run_tests
from sk_loadagent.suite.execution_plan import ExecutionPlan, interpret
from sk_loadagent.suite.inputs import load_inputs
from sk_loadagent.suite.judge import evaluate, score
from sk_loadagent.suite.remember import push

# Nothing listens on the discard port: the mock transport never opens a socket, and no pid is sampled.
BASE_URL = "http://127.0.0.1:9"
PLAN: dict[str, Any] = {
    "traceId": "proj-933-checkout",
    "moduleId": "CheckoutService",
    "editionId": "vetclinic",
    "baseUrl": BASE_URL,
    "endpoint": "/checkout/submit",
    "tests": [
        {"type": "load", "name": "checkout-load", "rps": 10, "duration": "500ms"},
        {"type": "concurrency", "name": "checkout-vus", "vus": 1, "duration": "300ms"},
    ],
}
# Requests alternate between an answer and a 503, so error figures are exact.
ALTERNATING = [MockReply(latency=0.002), MockReply(latency=0.002, status=503)]


def kernel_with(plugin: object, name: str) -> Kernel:
    kernel = Kernel()
    kernel.add_plugin(plugin, plugin_name=name)
    assert list(kernel.plugins) == [name]
    return kernel


async def invoke(kernel: Kernel, function: str, **arguments: Any) -> Any:
    (name,) = kernel.plugins
    result = await kernel.invoke(
        plugin_name=name, function_name=function, arguments=KernelArguments(**arguments)
    )
    assert result is not None
    return result.value


def execution_plan(plan: dict[str, Any] = PLAN) -> ExecutionPlan:
    return interpret(load_inputs(plan))


def mock_options() -> RunOptions:
    return RunOptions(workers=0, transport=MockTransport(ALTERNATING))


def judged(p95: float, *, trace_id: str, status: str | None = None) -> PerfMetrics:
    """One test's perf-metrics as a run of the CheckoutService load test would leave them."""
    return PerfMetrics.model_validate(
        {
            "traceId": trace_id,
            "moduleId": "CheckoutService",
            "editionId": "vetclinic",
            "testType": "load",
            "endpoint": "/checkout/submit",
            "latency": {"p50": p95 / 2, "p95": p95, "p99": p95 * 1.2},
            "rps": 50,
            "errorRate": 0.0,
            "status": status,
        }
    )


def evaluated(test: PerfMetrics) -> PerfMetrics:
    return evaluate(score(test, None), None)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    with open_store(tmp_path / "memory.sqlite") as opened:
        yield opened


# -- TestPlanInterpreter --------------------------------------------------------------------------------


async def test_interpreter_resolves_a_plan_dict_with_the_callers_scope() -> None:
    kernel = kernel_with(TestPlanInterpreter(), "TestPlanInterpreter")
    plan = {**PLAN, "baseUrl": BASE_URL + "/"}

    value = await invoke(kernel, "interpret_plan", plan=plan, traceId="qa-run-7", sourceAgent="QAAgent")

    assert (value["traceId"], value["sourceAgent"], value["baseUrl"]) == ("qa-run-7", "QAAgent", BASE_URL)
    assert [(t["index"], t["testType"], t["method"], t["url"]) for t in value["tests"]] == [
        (0, "load", "GET", f"{BASE_URL}/checkout/submit"),
        (1, "concurrency", "GET", f"{BASE_URL}/checkout/submit"),
    ]
    assert value["tests"][0]["profile"] == (
        "open model: ramp 0→10 rps over 50ms, hold 10 rps for 500ms (measured); timeout 10s; "
        "≤ 200 connections"
    )
    assert value["tests"][1]["profile"] == (
        "closed model: hold 1 VUs for 300ms (measured); timeout 10s; one connection per VU"
    )
    assert (value["tests"][0]["sloP95Ms"], value["tests"][0]["sloErrorRate"]) == (800.0, 0.01)


async def test_interpreter_reports_a_bad_plan_by_field() -> None:
    kernel = kernel_with(TestPlanInterpreter(), "TestPlanInterpreter")
    plan = {**PLAN, "tests": [{"type": "load", "rps": -5, "duration": "1s"}]}

    with pytest.raises(KernelInvokeException) as caught:
        await invoke(kernel, "interpret_plan", plan=plan)

    cause = root_cause(caught.value)
    assert isinstance(cause, InputError)
    assert str(cause) == "test-suite.plan.yaml: tests[0].rps: expected a number greater than 0, got -5"


# -- LoadRunnerExecutor ---------------------------------------------------------------------------------


async def test_executor_runs_every_planned_test_and_keeps_the_runs_under_an_id() -> None:
    executor = LoadRunnerExecutor(mock_options())
    kernel = kernel_with(executor, "LoadRunnerExecutor")
    plan = execution_plan({**PLAN, "tests": PLAN["tests"][:1]})

    value = await invoke(kernel, "run_load_tests", executionPlan=plan.to_wire(), traceId="t-1")

    # JSON for the caller: the id and a line per test; the samples stay in the executor's cache.
    assert value == {
        "runResultsId": value["runResultsId"],
        "tests": [
            {
                "index": 0,
                "target": f"{BASE_URL}/checkout/submit",
                "measuredRequests": 5,
                "durationSeconds": 0.55,
                "complete": True,
            }
        ],
    }
    runs = executor.runs.get(value["runResultsId"])
    assert runs is not None
    assert [type(r) for r in runs] == [TestRun]
    (run,) = runs
    assert [p.name for p in run.result.phases] == ["ramp-up", "steady"]
    # 10 rps for 500 ms after a 50 ms ramp: one ramp request and five steady ones, alternating 200/503.
    assert run.result.samples.status.tolist() == [200, 503, 200, 503, 200, 503]
    assert run.resources is None  # no pid to sample: nothing listens on the target port


async def test_executor_reruns_only_the_listed_tests_on_a_retry() -> None:
    kernel = kernel_with(LoadRunnerExecutor(mock_options()), "LoadRunnerExecutor")
    plan = execution_plan()

    value = await invoke(
        kernel, "run_load_tests", executionPlan=plan.to_wire(), retryAttempt=1, retryTests=[1]
    )

    assert [t["index"] for t in value["tests"]] == [1]


async def test_the_collector_finds_the_executors_runs_by_their_id() -> None:
    runs = RunResultCache()
    kernel = Kernel()
    kernel.add_plugin(LoadRunnerExecutor(mock_options(), runs=runs), plugin_name="LoadRunnerExecutor")
    kernel.add_plugin(PerfMetricCollector(runs), plugin_name="PerfMetricCollector")
    plan = execution_plan({**PLAN, "tests": PLAN["tests"][:1]}).to_wire()
    arguments = KernelArguments(executionPlan=plan)

    ran = await kernel.invoke(
        plugin_name="LoadRunnerExecutor", function_name="run_load_tests", arguments=arguments
    )
    assert ran is not None
    # As a model would pass it back: the JSON run_load_tests returned.
    arguments["runResults"] = json.loads(json.dumps(ran.value))
    collected = await kernel.invoke(
        plugin_name="PerfMetricCollector", function_name="collect_metrics", arguments=arguments
    )

    assert collected is not None
    assert collected.value["requests"] == 5


# -- PerfMetricCollector --------------------------------------------------------------------------------


async def test_collector_turns_runs_into_suite_metrics() -> None:
    plan = execution_plan({**PLAN, "tests": PLAN["tests"][:1]})
    runs = await run_tests(plan, options=mock_options())
    kernel = kernel_with(PerfMetricCollector(), "PerfMetricCollector")

    value = await invoke(kernel, "collect_metrics", executionPlan=plan.to_wire(), runResults=runs)

    (test,) = value["tests"]
    for doc in (value, test):  # one test: the suite's top level is that test
        assert doc["traceId"] == "proj-933-checkout"
        assert (doc["testType"], doc["testName"], doc["testIndex"]) == ("load", "checkout-load", 0)
        assert doc["testTarget"] == f"{BASE_URL}/checkout/submit"
        # The measured (steady) phase: five requests in 500 ms, three of them 503.
        # Throughput counts the two 200s over 0.5 s; the three 503s are failed requests beside it.
        assert (doc["requests"], doc["rps"], doc["failedRps"], doc["targetRps"]) == (5, 4.0, 6.0, 10.0)
        assert (doc["errorRate"], doc["errors"]) == (0.6, {"http5xx": 3})
        assert doc["retryAttempt"] == 0
        assert doc["testDuration"] == "500ms"
    assert [p["name"] for p in test["phases"]] == ["ramp-up", "steady"]
    assert 2.0 <= test["latency"]["p50"] <= test["latency"]["p95"] <= test["latency"]["max"]


# -- RegressionComparer ---------------------------------------------------------------------------------


async def test_comparer_compares_with_the_stored_baseline(store: MemoryStore) -> None:
    push(evaluated(judged(100, trace_id="baseline-run")), store)
    kernel = kernel_with(RegressionComparer(store), "RegressionComparer")

    value = await invoke(kernel, "compare_with_baseline", perfMetrics=judged(200, trace_id="now").to_wire())

    comparison = value["baselineComparison"]
    assert (comparison["p95LatencyBaseline"], comparison["p95Current"]) == (100.0, 200.0)
    assert (comparison["deltaLatencyP95"], comparison["regressed"], comparison["exploratory"]) == (
        "+100%",
        True,
        False,
    )
    assert (comparison["baselineTraceId"], comparison["baselineStatus"]) == ("baseline-run", "pass")
    assert comparison["baselineScore"] == 1.0


async def test_comparer_without_a_baseline_is_exploratory(store: MemoryStore) -> None:
    kernel = kernel_with(RegressionComparer(store), "RegressionComparer")

    value = await invoke(kernel, "compare_with_baseline", perfMetrics=judged(200, trace_id="now").to_wire())

    assert value["baselineComparison"]["exploratory"] is True
    assert "p95LatencyBaseline" not in value["baselineComparison"]


async def test_comparer_skips_when_memory_compare_is_false(store: MemoryStore) -> None:
    push(evaluated(judged(100, trace_id="baseline-run")), store)
    kernel = kernel_with(RegressionComparer(store), "RegressionComparer")
    given = judged(200, trace_id="now").to_wire()

    value = await invoke(kernel, "compare_with_baseline", perfMetrics=given, memoryCompare=False)

    assert value == given


# -- ThresholdEvaluator ---------------------------------------------------------------------------------


async def test_evaluator_classifies_one_minor_violation_as_warning() -> None:
    kernel = kernel_with(ThresholdEvaluator(), "ThresholdEvaluator")
    perf = {"latency": {"p95": 900}, "rps": 50, "errorRate": 0.0, "cpuUsagePct": 20}

    value = await invoke(kernel, "evaluate_thresholds", perfMetrics=perf)

    # Scored on the way: latency (1600 - 900) / 800 = 0.875, so 1 - 0.35 * 0.125 = 0.956 -> 0.96 (pass band);
    # p95 900 ms is 12.5 % over the default 800 ms limit, a minor violation -> warning.
    assert (value["performanceScore"], value["status"]) == (0.96, "warning")
    assert value["violations"] == [
        {
            "metric": "latencyP95",
            "limit": 800.0,
            "observed": 900.0,
            "severity": "minor",
            "source": "default",
            "message": "p95 900 ms > 800 ms limit (+12 %) from default",
        }
    ]
    assert value["reasons"] == [
        "score 0.96 is in the pass band (≥ 0.90)",
        "1 threshold violation (minor): p95 900 ms > 800 ms limit (+12 %) from default",
    ]


async def test_evaluator_fails_two_violations_with_a_significant_one() -> None:
    kernel = kernel_with(ThresholdEvaluator(), "ThresholdEvaluator")
    perf = {"latency": {"p95": 900}, "rps": 50, "errorRate": 0.002}
    thresholds = {"thresholds": {"latencyP95": 500, "errorRateMax": 0.001}}

    value = await invoke(kernel, "evaluate_thresholds", perfMetrics=perf, thresholds=thresholds)

    assert value["status"] == "fail"
    assert [(v["metric"], v["severity"]) for v in value["violations"]] == [
        ("latencyP95", "significant"),
        ("errorRate", "minor"),
    ]


async def test_evaluator_honours_a_studio_ignore_of_cpu_and_error_rate() -> None:
    """studio.annotation.yaml ``ignore: [cpu, errorRate]`` ("ignore CPU deviation") drops those violations."""
    ignore = {"annotations": [{"moduleId": "CheckoutService", "ignore": ["cpu", "errorRate"]}]}
    plan = execution_plan({**PLAN, "tests": PLAN["tests"][:1]}).model_copy(update={"annotations": ignore})
    kernel = kernel_with(ThresholdEvaluator(), "ThresholdEvaluator")
    perf = {**judged(100, trace_id="t").to_wire(), "cpuUsagePct": 97.0, "errorRate": 0.03}
    thresholds = {"thresholds": {"cpuUsageMax": 75, "errorRateMax": 0.01, "latencyP95": 80}}

    value = await invoke(
        kernel, "evaluate_thresholds", perfMetrics=perf, thresholds=thresholds, executionPlan=plan.to_wire()
    )

    assert [v["metric"] for v in value["violations"]] == ["latencyP95"]


async def test_evaluator_stops_recommending_retries_after_the_last_attempt() -> None:
    kernel = kernel_with(ThresholdEvaluator(), "ThresholdEvaluator")
    # Failing after a cold start (the first windows 8× slower than the rest): a retry can change that.
    cold = [TimelinePoint(t=float(i), rps=50, p95=v) for i, v in enumerate([4000] * 3 + [500] * 10)]
    run = judged(1000, trace_id="t").model_copy(update={"error_rate": 0.03, "timeline": cold})
    failed = evaluate(score(run, None), None)
    assert failed.status == "fail"

    first = await invoke(kernel, "recommend_retry", perfMetrics=failed.to_wire(), retryAttempt=0)
    last = await invoke(kernel, "recommend_retry", perfMetrics=failed.to_wire(), retryAttempt=3)

    assert (first["retry"], first["tests"], first["previousScore"]) == (True, [0], failed.performance_score)
    assert (last["retry"], last["tests"]) == (False, [])


# -- PreviewPublisher -----------------------------------------------------------------------------------


async def test_publisher_writes_the_artifacts(tmp_path: Path) -> None:
    kernel = kernel_with(PreviewPublisher(tmp_path), "PreviewPublisher")
    test = evaluated(judged(100, trace_id="proj-933-checkout"))

    paths = await invoke(kernel, "publish_preview", perfMetrics=test.to_wire())

    assert paths == {
        "perfMetrics": str(tmp_path / "perf-metrics.json"),
        "loadTraceMap": str(tmp_path / "load-trace-map.yaml"),
        "preview": str(tmp_path / "studio.performance.preview.json"),
        "scoreLog": str(tmp_path / "performance-score.log.jsonl"),
        "editionMetrics": str(tmp_path / "metrics" / "vetclinic" / "checkoutservice.json"),
        "badge": str(tmp_path / "badges" / "vetclinic" / "checkoutservice.svg"),
    }
    preview = json.loads((tmp_path / "studio.performance.preview.json").read_text())
    assert (preview["traceId"], preview["performanceScore"], preview["status"]) == (
        "proj-933-checkout",
        1.0,
        "pass",
    )
    assert yaml.safe_load((tmp_path / "load-trace-map.yaml").read_text())["tests"] == [
        {
            "endpoint": "/checkout/submit",
            "testType": "load",
            "status": "pass",
            "latencyP95": 100.0,
            "errorRate": 0.0,
            "rps": 50.0,
            "performanceScore": 1.0,
        }
    ]


# -- MemoryPusher ---------------------------------------------------------------------------------------


async def test_pusher_stores_the_first_passing_run_as_baseline(store: MemoryStore) -> None:
    kernel = kernel_with(MemoryPusher(store), "MemoryPusher")
    test = evaluated(judged(100, trace_id="proj-933-checkout"))

    (stored,) = await invoke(kernel, "push_to_memory", perfMetrics=test.to_wire())

    key = SeriesKey(
        edition_id="vetclinic", module_id="CheckoutService", test_type="load", endpoint="/checkout/submit"
    )
    assert stored["key"] == key.to_wire()
    assert (stored["status"], stored["baseline"], stored["baselineObsolete"]) == ("pass", True, False)
    assert stored["reason"] == "first passing run of this scope"
    baseline = store.baseline(key)
    assert baseline is not None
    assert (baseline.run_id, baseline.trace_id, baseline.p95_latency_ms) == (
        stored["runId"],
        "proj-933-checkout",
        100.0,
    )


async def test_pusher_skips_tests_that_were_never_judged(store: MemoryStore) -> None:
    kernel = kernel_with(MemoryPusher(store), "MemoryPusher")

    stored = await invoke(kernel, "push_to_memory", perfMetrics=judged(100, trace_id="raw").to_wire())

    assert stored == []
    assert store.keys() == []
