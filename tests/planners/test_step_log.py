"""The step recorder (a function-invocation filter), and what a real run writes to its step log
(performance-score.log.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from semantic_kernel import Kernel
from semantic_kernel.exceptions import KernelInvokeException
from semantic_kernel.filters import FilterTypes
from semantic_kernel.functions import KernelArguments

from sk_loadagent.engine import MockReply, MockTransport, RunOptions
from sk_loadagent.memory import open_store
from sk_loadagent.models.context import RunContext
from sk_loadagent.planners.agent import SuiteRequest, run_suite
from sk_loadagent.planners.step_log import StepRecorder
from sk_loadagent.skills import PerformanceScorer, TestPlanInterpreter

PLAN: dict[str, Any] = {
    "traceId": "planner-run-1",
    "moduleId": "CheckoutService",
    "editionId": "vetclinic",
    "baseUrl": "http://127.0.0.1:9",
    "endpoint": "/checkout/submit",
    "tests": [{"type": "load", "rps": 10, "duration": "500ms"}],
}


def options() -> RunOptions:
    return RunOptions(workers=0, transport=MockTransport(MockReply(latency=0.002)))


def log_lines(out: Path) -> list[dict[str, Any]]:
    text = (out / "performance-score.log.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def steps(lines: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(line["step"], line["outcome"]) for line in lines if line["event"] == "step"]


async def test_the_filter_records_name_duration_outcome_and_context() -> None:
    recorder = StepRecorder()
    kernel = Kernel()
    kernel.add_plugin(PerformanceScorer(), plugin_name="PerformanceScorer")
    kernel.add_filter(FilterTypes.FUNCTION_INVOCATION, recorder)

    await kernel.invoke(
        plugin_name="PerformanceScorer",
        function_name="score_performance",
        arguments=KernelArguments(perfMetrics={"latency": {"p95": 100}}, traceId="t-7", retryAttempt=2),
    )

    (record,) = recorder.records
    assert {k: record[k] for k in ("event", "step", "traceId", "retryAttempt", "outcome")} == {
        "event": "step",
        "step": "PerformanceScorer-score_performance",
        "traceId": "t-7",
        "retryAttempt": 2,
        "outcome": "ok",
    }
    assert record["durationMs"] >= 0
    assert "error" not in record


async def test_a_failing_step_is_recorded_with_the_users_error_not_the_kernels_wrapper() -> None:
    recorder = StepRecorder()
    kernel = Kernel()
    kernel.add_plugin(TestPlanInterpreter(), plugin_name="TestPlanInterpreter")
    kernel.add_filter(FilterTypes.FUNCTION_INVOCATION, recorder)

    with pytest.raises(KernelInvokeException):
        await kernel.invoke(
            plugin_name="TestPlanInterpreter",
            function_name="interpret_plan",
            arguments=KernelArguments(plan={**PLAN, "tests": [{"type": "loadd", "rps": 1}]}),
        )

    (record,) = recorder.records
    assert (record["step"], record["outcome"]) == ("TestPlanInterpreter-interpret_plan", "error")
    assert record["error"] == (
        "test-suite.plan.yaml: tests[0].type: expected one of 'load', 'spike', 'soak', 'stress', "
        "'concurrency', 'latency' or 'custom', got 'loadd'"
    )


async def test_a_real_run_logs_every_step_and_the_ones_left_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open_store(tmp_path / "memory.sqlite") as store:
        outcome = await run_suite(
            SuiteRequest(plan=PLAN),
            RunContext(memory_compare=False),
            store=store,
            out_dir=out,
            options=options(),
            max_retries=0,  # a loaded machine may look like an infrastructure anomaly worth a retry
        )

    lines = log_lines(out)
    assert steps(lines) == [
        ("RegressionComparer-compare_with_baseline", "skipped"),
        ("ThresholdEvaluator-recommend_retry", "skipped"),
        ("TestPlanInterpreter-interpret_plan", "ok"),
        ("LoadRunnerExecutor-run_load_tests", "ok"),
        ("PerfMetricCollector-collect_metrics", "ok"),
        ("PerformanceScorer-score_performance", "ok"),
        ("ThresholdEvaluator-evaluate_thresholds", "ok"),
        ("PreviewPublisher-publish_preview", "ok"),
        ("MemoryPusher-push_to_memory", "ok"),
    ]
    step_lines = [line for line in lines if line["event"] == "step"]
    assert [line["reason"] for line in step_lines[:2]] == ["memoryCompare is false", "maxRetries is 0"]
    # The plan names the traceId; the steps that ran before it was read carry it too.
    assert {line["traceId"] for line in step_lines} == {"planner-run-1"}
    assert all(line["retryAttempt"] == 0 for line in step_lines)
    durations = {line["step"]: line["durationMs"] for line in step_lines}
    assert durations["LoadRunnerExecutor-run_load_tests"] >= 500  # the schedule alone is 550 ms
    assert all(isinstance(d, float) and d >= 0 for d in durations.values())
    # One score line for the test, after the steps, with the score the run reported.
    (score,) = [line for line in lines if line["event"] == "score"]
    assert (score["finalScore"], score["status"]) == (
        outcome.metrics.performance_score,
        outcome.metrics.status,
    )
    assert [s["step"] for s in outcome.steps] == [s["step"] for s in step_lines]


async def test_a_run_without_memory_logs_the_push_as_skipped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcome = await run_suite(
        SuiteRequest(plan=PLAN),
        RunContext(trace_id="caller-trace"),
        store=None,
        out_dir=out,
        options=options(),
        max_retries=0,
    )

    skipped = [(line["step"], line["reason"]) for line in log_lines(out) if line.get("outcome") == "skipped"]
    assert skipped == [
        ("RegressionComparer-compare_with_baseline", "no memory store or baseline file"),
        ("ThresholdEvaluator-recommend_retry", "maxRetries is 0"),
        ("MemoryPusher-push_to_memory", "no memory store is configured"),
    ]
    assert "MemoryPusher.push_to_memory" not in outcome.chain.step_names()
    assert outcome.memory_records == []
    # The caller's traceId wins over the plan's.
    assert outcome.metrics.trace_id == "caller-trace"
    assert {line["traceId"] for line in log_lines(out) if line["event"] == "step"} == {"caller-trace"}
