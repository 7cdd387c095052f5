"""The tool schemas Semantic Kernel sends a model for the eight skills: valid JSON Schema, self-contained,
described, with the right parameters required, and equal to what pydantic writes for the models the skills
validate with, so that a document the model accepts the schema accepts, and one it refuses, the schema
refuses too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from semantic_kernel import Kernel
from semantic_kernel.connectors.ai.function_calling_utils import (
    kernel_function_metadata_to_function_call_format,
)

from sk_loadagent.memory import open_store
from sk_loadagent.models.caps import Caps
from sk_loadagent.models.metrics import PerfMetrics, ScoreWeights
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.models.thresholds import PerfThresholds
from sk_loadagent.skills import (
    LoadRunnerExecutor,
    MemoryPusher,
    PerfMetricCollector,
    PerformanceScorer,
    PreviewPublisher,
    RegressionComparer,
    RunResults,
    TestPlanInterpreter,
    ThresholdEvaluator,
)
from sk_loadagent.skills._schema import tool_schema
from sk_loadagent.suite.execution_plan import ExecutionPlan, interpret
from sk_loadagent.suite.inputs import load_inputs

FIXTURES = Path(__file__).resolve().parents[1] / "models" / "fixtures"
PATH = str | None
# Per function, each parameter's type (what the skill validates the argument as) and whether it is required.
EXPECTED: dict[str, dict[str, tuple[Any, bool]]] = {
    "TestPlanInterpreter-interpret_plan": {
        "plan": (str | TestSuitePlan, True),
        "thresholdFiles": (list[str] | None, False),
        "metadataFile": (PATH, False),
        "editionsFile": (PATH, False),
        "annotationsFile": (PATH, False),
        "weightingFile": (PATH, False),
        "baselineFile": (PATH, False),
        "tracePlanFile": (PATH, False),
        "observabilityFile": (PATH, False),
        "targetUrl": (PATH, False),
        "traceId": (PATH, False),
        "editionId": (PATH, False),
        "moduleId": (PATH, False),
        "sourceAgent": (PATH, False),
        "allowHosts": (list[str] | None, False),
        "retryAdjustments": (dict[str, dict[str, str | float]] | None, False),
        "caps": (Caps | None, False),
        "caFile": (PATH, False),
        "insecureSkipVerify": (bool | None, False),
        "warnOnRegression": (bool | None, False),
        "retryOnFlakiness": (bool | None, False),
    },
    "LoadRunnerExecutor-run_load_tests": {
        "executionPlan": (ExecutionPlan, True),
        "retryTests": (list[int] | None, False),
        "retryAttempt": (int, False),
    },
    "PerfMetricCollector-collect_metrics": {
        "executionPlan": (ExecutionPlan, True),
        "runResults": (RunResults, True),
        "retryAttempt": (int, False),
    },
    "RegressionComparer-compare_with_baseline": {
        "perfMetrics": (PerfMetrics, True),
        "executionPlan": (ExecutionPlan | None, False),
        "memoryCompare": (bool, False),
    },
    "PerformanceScorer-score_performance": {
        "perfMetrics": (PerfMetrics, True),
        "thresholds": (PerfThresholds | None, False),
        "weights": (ScoreWeights | None, False),
        "executionPlan": (ExecutionPlan | None, False),
    },
    "ThresholdEvaluator-evaluate_thresholds": {
        "perfMetrics": (PerfMetrics, True),
        "thresholds": (PerfThresholds | None, False),
        "executionPlan": (ExecutionPlan | None, False),
    },
    "ThresholdEvaluator-recommend_retry": {
        "perfMetrics": (PerfMetrics, True),
        "retryAttempt": (int, False),
        "executionPlan": (ExecutionPlan | None, False),
        "retriedFor": (dict[str, list[str]] | None, False),
        "retryBudget": (dict[str, float] | None, False),
    },
    "PreviewPublisher-publish_preview": {
        "perfMetrics": (PerfMetrics, True),
        "attempts": (list[dict[str, Any]] | None, False),
    },
    "MemoryPusher-push_to_memory": {"perfMetrics": (PerfMetrics, True)},
}


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Every skill function as Semantic Kernel formats it for a chat model's ``tools``."""
    kernel = Kernel()
    with open_store(tmp_path_factory.mktemp("memory") / "m.sqlite") as store:
        for plugin in (
            TestPlanInterpreter(),
            LoadRunnerExecutor(),
            PerfMetricCollector(),
            RegressionComparer(store),
            PerformanceScorer(),
            ThresholdEvaluator(),
            PreviewPublisher(tmp_path_factory.mktemp("perf")),
            MemoryPusher(store),
        ):
            kernel.add_plugin(plugin, plugin_name=type(plugin).__name__)
        formatted = [
            kernel_function_metadata_to_function_call_format(f)
            for f in kernel.get_full_list_of_function_metadata()
        ]
        yield {tool["function"]["name"]: tool["function"] for tool in formatted}


def test_every_function_has_a_tool_and_every_tool_is_expected(tools: dict[str, dict[str, Any]]) -> None:
    assert sorted(tools) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_tool_schema_is_valid_self_contained_and_what_pydantic_writes(
    tools: dict[str, dict[str, Any]], name: str
) -> None:
    parameters = tools[name]["parameters"]
    text = json.dumps(parameters)  # plain JSON: no constraint objects in place of descriptions
    jsonschema.Draft202012Validator.check_schema(parameters)
    assert "$ref" not in text
    expected = EXPECTED[name]
    assert sorted(parameters["properties"]) == sorted(expected)
    assert sorted(parameters["required"]) == sorted(p for p, (_, required) in expected.items() if required)
    for parameter, schema in parameters["properties"].items():
        assert schema["description"], parameter
        assert schema == tool_schema(expected[parameter][0], schema["description"]), parameter


def test_numbers_and_flags_are_typed_as_such(tools: dict[str, dict[str, Any]]) -> None:
    run = tools["LoadRunnerExecutor-run_load_tests"]["parameters"]["properties"]
    compare = tools["RegressionComparer-compare_with_baseline"]["parameters"]["properties"]

    assert run["retryAttempt"]["type"] == "integer"
    assert run["retryTests"]["anyOf"][0] == {"items": {"type": "integer"}, "type": "array"}
    assert compare["memoryCompare"]["type"] == "boolean"
    # The weights are numbers between 0 and 1, not "objects".
    weights = tools["PerformanceScorer-score_performance"]["parameters"]["properties"]["weights"]
    assert weights["anyOf"][0]["properties"]["latency"] == {"default": 0.35, "type": "number"}


def validator(tools: dict[str, dict[str, Any]], name: str, parameter: str) -> jsonschema.Validator:
    return jsonschema.Draft202012Validator(tools[name]["parameters"]["properties"][parameter])


def test_the_perf_metrics_schema_accepts_the_spec_examples_and_refuses_what_the_model_refuses(
    tools: dict[str, dict[str, Any]],
) -> None:
    schema = validator(tools, "PerformanceScorer-score_performance", "perfMetrics")
    for fixture in ("c04_perf-metrics.json", "c07_perf-metrics.json", "c16_perf-metrics.json"):
        document = json.loads((FIXTURES / fixture).read_text())
        PerfMetrics.model_validate(document)
        assert list(schema.iter_errors(document)) == [], fixture

    bad = {"moduleId": "CheckoutService", "rps": "fast"}
    assert [e.message for e in schema.iter_errors(bad)] == [
        "'fast' is not valid under any of the given schemas"
    ]
    with pytest.raises(ValueError, match="rps"):
        PerfMetrics.model_validate(bad)


def test_the_plan_and_execution_plan_schemas_accept_what_the_interpreter_reads_and_writes(
    tools: dict[str, dict[str, Any]],
) -> None:
    plan = yaml.safe_load((FIXTURES / "c03_test-suite.plan.yaml").read_text())
    plan["baseUrl"] = "http://127.0.0.1:9"
    executed = interpret(load_inputs(plan)).to_wire()

    assert list(validator(tools, "TestPlanInterpreter-interpret_plan", "plan").iter_errors(plan)) == []
    assert (
        list(validator(tools, "LoadRunnerExecutor-run_load_tests", "executionPlan").iter_errors(executed))
        == []
    )
    unknown = {**plan, "tests": [{**plan["tests"][0], "rpz": 5}]}
    assert not validator(tools, "TestPlanInterpreter-interpret_plan", "plan").is_valid(unknown)
