"""The skill chain as data: planned from the context, inspectable, serialisable, over KernelArguments."""

from __future__ import annotations

import json

import pytest

from sk_loadagent.models.context import CONTEXT_KEYS, RunContext
from sk_loadagent.planners.chain import SkillChain, SkippedStep, plan_chain
from sk_loadagent.planners.runner import context_arguments

FULL_CHAIN = [
    "TestPlanInterpreter.interpret_plan",
    "LoadRunnerExecutor.run_load_tests",
    "PerfMetricCollector.collect_metrics",
    "RegressionComparer.compare_with_baseline",
    "PerformanceScorer.score_performance",
    "ThresholdEvaluator.evaluate_thresholds",
    "ThresholdEvaluator.recommend_retry",
    "PreviewPublisher.publish_preview",
    "MemoryPusher.push_to_memory",
]


def full_context(**changes: object) -> RunContext:
    values: dict[str, object] = {
        "traceId": "proj-933-checkout",
        "editionId": "vetclinic",
        "moduleId": "CheckoutService",
        "testType": "load",
        "sourceAgent": "ResiliencyAgent",
        "executionWindow": "30s",
        "memoryCompare": True,
        "previousScore": 0.62,
        "retryAttempt": 1,
    }
    return RunContext.model_validate({**values, **changes})


def test_the_full_chain_runs_every_skill_in_spec_order() -> None:
    chain = plan_chain(full_context(), memory_enabled=True)

    assert chain.step_names() == FULL_CHAIN
    assert chain.skipped == []
    assert [s.output for s in chain.steps] == [
        "executionPlan",
        "runResults",
        "perfMetrics",
        "perfMetrics",
        "perfMetrics",
        "perfMetrics",
        "retryDecision",
        "artifacts",
        "memoryRecords",
    ]


def test_a_chain_round_trips_through_json_unchanged() -> None:
    chain = plan_chain(full_context(memoryCompare=False), memory_enabled=False, max_retries=2)

    text = json.dumps(chain.to_wire())
    back = SkillChain.model_validate(json.loads(text))

    assert back == chain
    assert back.model_dump_json() == chain.model_dump_json()
    assert json.loads(text)["context"] == {
        "traceId": "proj-933-checkout",
        "editionId": "vetclinic",
        "moduleId": "CheckoutService",
        "testType": "load",
        "sourceAgent": "ResiliencyAgent",
        "executionWindow": "30s",
        "memoryCompare": False,
        "previousScore": 0.62,
        "retryAttempt": 1,
    }
    assert json.loads(text)["skipped"] == [
        {
            "skill": "RegressionComparer",
            "function": "compare_with_baseline",
            "reason": "memoryCompare is false",
        },
        {"skill": "MemoryPusher", "function": "push_to_memory", "reason": "no memory store is configured"},
    ]


def test_memory_compare_false_leaves_out_the_comparison_with_its_reason() -> None:
    chain = plan_chain(full_context(memoryCompare=False), memory_enabled=True)

    assert chain.step_names() == [n for n in FULL_CHAIN if not n.startswith("RegressionComparer")]
    assert chain.skipped == [
        SkippedStep(
            skill="RegressionComparer", function="compare_with_baseline", reason="memoryCompare is false"
        )
    ]


def test_without_a_memory_store_nothing_is_pushed_or_compared() -> None:
    chain = plan_chain(full_context(), memory_enabled=False)

    assert "MemoryPusher.push_to_memory" not in chain.step_names()
    assert "RegressionComparer.compare_with_baseline" not in chain.step_names()
    assert [(s.skill, s.reason) for s in chain.skipped] == [
        ("RegressionComparer", "no memory store or baseline file"),
        ("MemoryPusher", "no memory store is configured"),
    ]


def test_a_baseline_file_alone_is_enough_to_compare() -> None:
    chain = plan_chain(full_context(), memory_enabled=False, baseline_file=True)

    assert "RegressionComparer.compare_with_baseline" in chain.step_names()
    assert [s.skill for s in chain.skipped] == ["MemoryPusher"]


def test_no_retries_leaves_out_the_retry_decision() -> None:
    chain = plan_chain(full_context(), memory_enabled=True, max_retries=0)

    assert "ThresholdEvaluator.recommend_retry" not in chain.step_names()
    assert chain.skipped == [
        SkippedStep(skill="ThresholdEvaluator", function="recommend_retry", reason="maxRetries is 0")
    ]


def test_describe_lists_each_step_and_each_skipped_one() -> None:
    chain = plan_chain(full_context(memoryCompare=False), memory_enabled=False, max_retries=0)

    assert chain.describe().splitlines() == [
        "1. TestPlanInterpreter.interpret_plan -> executionPlan (parse the plan and its inputs into an "
        "execution plan)",
        "2. LoadRunnerExecutor.run_load_tests -> runResults (generate the load each test asks for)",
        "3. PerfMetricCollector.collect_metrics -> perfMetrics (turn samples and target telemetry into "
        "perf-metrics)",
        "4. PerformanceScorer.score_performance -> perfMetrics (weighted 0-1 score of spec cycle 15)",
        "5. ThresholdEvaluator.evaluate_thresholds -> perfMetrics (status from thresholds, score band and "
        "regression)",
        "6. PreviewPublisher.publish_preview -> artifacts (write perf-metrics.json, load-trace-map.yaml, the "
        "Studio preview and alerts)",
        "-  RegressionComparer.compare_with_baseline skipped: memoryCompare is false",
        "-  ThresholdEvaluator.recommend_retry skipped: maxRetries is 0",
        "-  MemoryPusher.push_to_memory skipped: no memory store is configured",
    ]


def test_kernel_arguments_carry_the_nine_context_variables_and_the_inputs() -> None:
    chain = plan_chain(full_context(), memory_enabled=True)

    arguments = context_arguments(chain, plan="suite.plan.yaml", thresholdFiles=["t.yaml"], metadataFile=None)

    assert dict(arguments) == {
        "traceId": "proj-933-checkout",
        "editionId": "vetclinic",
        "moduleId": "CheckoutService",
        "testType": "load",
        "sourceAgent": "ResiliencyAgent",
        "executionWindow": "30s",
        "memoryCompare": True,
        "previousScore": 0.62,
        "retryAttempt": 1,
        "plan": "suite.plan.yaml",
        "thresholdFiles": ["t.yaml"],
    }
    assert set(CONTEXT_KEYS) <= set(arguments)


def test_unset_context_variables_stay_out_of_the_arguments() -> None:
    """Semantic Kernel would turn a None into the text "None" for a str parameter."""
    chain = plan_chain(RunContext(), memory_enabled=False)

    assert dict(context_arguments(chain)) == {"memoryCompare": True, "retryAttempt": 0}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("previousScore", 1.5, "less than or equal to 1"), ("retryAttempt", -1, "greater than or equal to 0")],
)
def test_context_variables_are_validated(field: str, value: object, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        full_context(**{field: value})
