"""A bad argument to any skill is an InputError naming the argument, the field and what was expected.

Semantic Kernel wraps what a kernel function raises in KernelInvokeException; root_cause finds our error
again (the CLI maps it to exit code 2). One bad argument per skill, with the exact text a caller sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from semantic_kernel import Kernel
from semantic_kernel.exceptions import KernelInvokeException
from semantic_kernel.functions import KernelArguments

from sk_loadagent.errors import InputError, root_cause
from sk_loadagent.memory import MemoryStore, open_store
from sk_loadagent.skills import (
    LoadRunnerExecutor,
    MemoryPusher,
    PerfMetricCollector,
    PerformanceScorer,
    PreviewPublisher,
    RegressionComparer,
    RunResultCache,
    TestPlanInterpreter,
    ThresholdEvaluator,
)
from sk_loadagent.suite.execution_plan import interpret
from sk_loadagent.suite.inputs import load_inputs

PLAN: dict[str, Any] = {
    "traceId": "arguments",
    "moduleId": "CheckoutService",
    "baseUrl": "http://127.0.0.1:9",
    "endpoint": "/checkout/submit",
    "tests": [{"type": "load", "rps": 10, "duration": "1s"}],
}
METRICS: dict[str, Any] = {"traceId": "arguments", "moduleId": "CheckoutService", "rps": 10.0}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    with open_store(tmp_path / "memory.sqlite") as opened:
        yield opened


async def refusal(plugin: object, function: str, **arguments: Any) -> str:
    """What the caller's kernel.invoke raised, unwrapped: the InputError's text."""
    kernel = Kernel()
    kernel.add_plugin(plugin, plugin_name="Skill")
    with pytest.raises(KernelInvokeException) as caught:
        await kernel.invoke(
            plugin_name="Skill", function_name=function, arguments=KernelArguments(**arguments)
        )
    cause = root_cause(caught.value)
    assert isinstance(cause, InputError)
    return str(cause)


async def test_interpret_plan_names_a_plan_that_is_neither_a_path_nor_a_mapping() -> None:
    assert await refusal(TestPlanInterpreter(), "interpret_plan", plan=42) == (
        "plan: <document>: expected a path to test-suite.plan.yaml or the plan as a mapping, got 42"
    )


async def test_run_load_tests_needs_an_execution_plan() -> None:
    assert await refusal(LoadRunnerExecutor(), "run_load_tests", executionPlan=None) == (
        "executionPlan: <document>: expected the execution plan from interpret_plan, got nothing"
    )


async def test_collect_metrics_needs_the_runs_of_run_load_tests() -> None:
    plan = interpret(load_inputs(PLAN)).to_wire()

    assert await refusal(PerfMetricCollector(), "collect_metrics", executionPlan=plan, runResults=["x"]) == (
        "runResults: [0]: expected a TestRun from run_load_tests, got 'x'"
    )


async def test_collect_metrics_names_a_run_id_it_does_not_hold() -> None:
    plan = interpret(load_inputs(PLAN)).to_wire()

    assert await refusal(
        PerfMetricCollector(RunResultCache()),
        "collect_metrics",
        executionPlan=plan,
        runResults={"runResultsId": "r-9"},
    ) == (
        "runResults: runResultsId: expected the id of runs run_load_tests made here (none in this kernel), "
        "got 'r-9'"
    )


async def test_a_whole_number_argument_is_not_truncated() -> None:
    plan = interpret(load_inputs(PLAN)).to_wire()

    assert await refusal(LoadRunnerExecutor(), "run_load_tests", executionPlan=plan, retryTests=[1.5]) == (
        "retryTests: [0]: expected a whole number, got 1.5"
    )


async def test_a_flag_must_be_true_or_false(store: MemoryStore) -> None:
    refused = await refusal(
        RegressionComparer(store), "compare_with_baseline", perfMetrics=METRICS, memoryCompare="maybe"
    )

    assert refused == "memoryCompare: <document>: expected true or false, got 'maybe'"


async def test_a_path_argument_must_be_text() -> None:
    assert await refusal(TestPlanInterpreter(), "interpret_plan", plan=PLAN, metadataFile=7) == (
        "metadataFile: <document>: expected text, got 7"
    )


async def test_compare_with_baseline_names_the_bad_field_of_perf_metrics(store: MemoryStore) -> None:
    metrics = {**METRICS, "rps": "fast"}

    assert await refusal(RegressionComparer(store), "compare_with_baseline", perfMetrics=metrics) == (
        "perfMetrics: rps: expected a number, got 'fast'"
    )


async def test_score_performance_refuses_a_negative_weight() -> None:
    weights = {"latency": -1}

    assert await refusal(PerformanceScorer(), "score_performance", perfMetrics=METRICS, weights=weights) == (
        "score weights: latency: expected a weight of 0 or more, got -1"
    )


async def test_recommend_retry_refuses_a_negative_attempt() -> None:
    assert await refusal(ThresholdEvaluator(), "recommend_retry", perfMetrics=METRICS, retryAttempt=-1) == (
        "retryAttempt: <document>: expected a whole number from 0 (the first attempt), got -1"
    )


async def test_publish_preview_refuses_an_attempt_that_is_not_a_mapping(tmp_path: Path) -> None:
    publisher = PreviewPublisher(tmp_path / "perf")

    assert await refusal(publisher, "publish_preview", perfMetrics=METRICS, attempts=[1]) == (
        "attempts: [0]: expected a mapping (one attempt), got 1"
    )
    assert not (tmp_path / "perf").exists()


async def test_push_to_memory_refuses_a_list_for_perf_metrics(store: MemoryStore) -> None:
    assert await refusal(MemoryPusher(store), "push_to_memory", perfMetrics=[METRICS]) == (
        "perfMetrics: <document>: expected a mapping of fields (a PerfMetrics document), got a list"
    )
    assert store.keys() == []
