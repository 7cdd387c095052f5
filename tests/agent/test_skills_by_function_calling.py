"""Each of the eight skills called through function calling by a (scripted) model, one after another, every
argument written as JSON from what earlier tools answered, as a model would; a bad argument comes back to
the model as the validation message and runs nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_chat import ScriptedChat, call, say
from semantic_kernel import Kernel
from semantic_kernel.connectors.ai.function_choice_behavior import FunctionChoiceBehavior
from semantic_kernel.contents import AuthorRole, ChatHistory, ChatMessageContent

from sk_loadagent.agent.guard import for_models
from sk_loadagent.engine import MockReply, MockTransport, RunOptions
from sk_loadagent.memory import MemoryStore, open_store
from sk_loadagent.planners.agent import build_kernel

PLAN: dict[str, Any] = {
    "traceId": "by-function-calling",
    "moduleId": "CheckoutService",
    "editionId": "vetclinic",
    "baseUrl": "http://127.0.0.1:9",
    "endpoint": "/checkout/submit",
    "tests": [{"type": "load", "name": "checkout-load", "rps": 10, "duration": "500ms"}],
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    with open_store(tmp_path / "memory.sqlite") as opened:
        yield opened


def last_result(history: ChatHistory) -> Any:
    (item,) = history.messages[-1].items
    return json.loads(str(item.result))  # type: ignore[union-attr]


def first_result(history: ChatHistory, name: str) -> Any:
    """The JSON answer of the first call of ``name`` in the history."""
    ids = [i.id for m in history.messages for i in m.items if getattr(i, "name", None) == name]
    for message in history.messages:
        for item in message.items:
            if message.role == AuthorRole.TOOL and getattr(item, "id", None) == ids[0]:
                return json.loads(str(item.result))  # type: ignore[attr-defined]
    raise AssertionError(name)


def then(
    name: str, arguments: Callable[[ChatHistory], dict[str, Any]]
) -> Callable[[ChatHistory], ChatMessageContent]:
    return lambda history: call(name, **arguments(history))


async def converse(kernel: Kernel, chat: ScriptedChat) -> ChatHistory:
    history = ChatHistory()
    history.add_user_message("Run the checkout suite skill by skill.")
    settings = chat.get_prompt_execution_settings_class()(
        function_choice_behavior=FunctionChoiceBehavior.Auto(maximum_auto_invoke_attempts=20)
    )
    answer = await chat.get_chat_message_content(history, settings, kernel=kernel)
    assert answer is not None
    return history


async def test_a_model_runs_the_whole_chain_one_skill_at_a_time(tmp_path: Path, store: MemoryStore) -> None:
    options = RunOptions(workers=0, transport=MockTransport(MockReply(latency=0.002)), late_threshold_s=0.5)
    kernel = for_models(build_kernel(store=store, out_dir=tmp_path / "perf", options=options))
    plan = "TestPlanInterpreter-interpret_plan"

    def metrics_from(name: str) -> Callable[[ChatHistory], dict[str, Any]]:
        return lambda h: {"perfMetrics": first_result(h, name), "executionPlan": first_result(h, plan)}

    chat = ScriptedChat(
        [
            call(plan, plan=PLAN),
            then("LoadRunnerExecutor-run_load_tests", lambda h: {"executionPlan": last_result(h)}),
            then(
                "PerfMetricCollector-collect_metrics",
                lambda h: {"executionPlan": first_result(h, plan), "runResults": last_result(h)},
            ),
            then(
                "RegressionComparer-compare_with_baseline",
                metrics_from("PerfMetricCollector-collect_metrics"),
            ),
            then(
                "PerformanceScorer-score_performance",
                metrics_from("RegressionComparer-compare_with_baseline"),
            ),
            then(
                "ThresholdEvaluator-evaluate_thresholds", metrics_from("PerformanceScorer-score_performance")
            ),
            then(
                "ThresholdEvaluator-recommend_retry", metrics_from("ThresholdEvaluator-evaluate_thresholds")
            ),
            then(
                "PreviewPublisher-publish_preview",
                lambda h: {"perfMetrics": first_result(h, "ThresholdEvaluator-evaluate_thresholds")},
            ),
            then(
                "MemoryPusher-push_to_memory",
                lambda h: {"perfMetrics": first_result(h, "ThresholdEvaluator-evaluate_thresholds")},
            ),
            say("Stored."),
        ]
    )

    history = await converse(kernel, chat)

    assert len(chat.advertised[0]) == 9
    evaluated = first_result(history, "ThresholdEvaluator-evaluate_thresholds")
    assert (evaluated["status"], evaluated["performanceScore"]) == ("pass", 1.0)
    assert first_result(history, "ThresholdEvaluator-recommend_retry")["retry"] is False
    assert (tmp_path / "perf" / "perf-metrics.json").is_file()
    (stored,) = first_result(history, "MemoryPusher-push_to_memory")
    assert (stored["baseline"], stored["reason"]) == (True, "first passing run of this scope")
    assert [r.trace_id for r in store.find(module_id="CheckoutService")] == ["by-function-calling"]


async def test_a_bad_argument_returns_the_validation_message_and_runs_nothing(
    tmp_path: Path, store: MemoryStore
) -> None:
    kernel = for_models(build_kernel(store=store, out_dir=tmp_path / "perf"))
    chat = ScriptedChat(
        [
            call("PerformanceScorer-score_performance", perfMetrics={"moduleId": "M", "rps": "fast"}),
            call("MemoryPusher-push_to_memory", perfMetrics=[{"moduleId": "M"}]),
            say("Both refused."),
        ]
    )

    await converse(kernel, chat)

    assert chat.tool_results() == [
        "ERROR: perfMetrics: rps: expected a number, got 'fast'",
        "ERROR: perfMetrics: <document>: expected a mapping of fields (a PerfMetrics document), got a list",
    ]
    assert store.keys() == []
