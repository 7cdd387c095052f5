"""The LLM planner with a scripted chat service: the model designs, runs and reads runs through the
LoadAgent plugin; the host's guard refuses what the host does not allow, and the model is told why.

Load goes through the engine's mock transport (nothing is sent); the edition scales the designed plan down
to 1.4 s of schedule (10 s ramp + 1 min, times 0.02) at 10 rps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fake_chat import ScriptedChat, call, say

from sk_loadagent.agent.planner import AgentFailedError, run_agent
from sk_loadagent.agent.session import AgentConfig, Budget
from sk_loadagent.engine import MockReply, MockTransport, RunOptions
from sk_loadagent.sample_service import samples_dir

VETCLINIC = samples_dir() / "vetclinic"
TOOLS = [
    "LoadAgent-compare_runs",
    "LoadAgent-design_suite",
    "LoadAgent-explain",
    "LoadAgent-get_run",
    "LoadAgent-history",
    "LoadAgent-run_suite",
]


def agent_config(tmp_path: Path, budget: Budget | None = None) -> AgentConfig:
    editions = {
        "editions": [{"editionId": "vetclinic", "trafficModel": {"rpsScale": 0.2, "durationScale": 0.02}}]
    }
    (tmp_path / "editions.json").write_text(json.dumps(editions))
    return AgentConfig(
        openapi=str(VETCLINIC / "generated.api.yaml"),
        metadata=str(VETCLINIC / "service.metadata.yaml"),
        editions=str(tmp_path / "editions.json"),
        target_url="http://127.0.0.1:9",
        out_dir=tmp_path / "out",
        options=RunOptions(
            workers=0, transport=MockTransport(MockReply(latency=0.001)), late_threshold_s=0.5
        ),
        budget=budget or Budget(),
    )


def results(chat: ScriptedChat) -> list[Any]:
    """The tool results the model was shown, parsed when they are JSON."""
    shown: list[Any] = []
    for text in chat.tool_results():
        try:
            shown.append(json.loads(text))
        except json.JSONDecodeError:
            shown.append(text)
    return shown


async def test_the_model_designs_runs_and_reads_a_run(tmp_path: Path) -> None:
    chat = ScriptedChat(
        [
            call("LoadAgent-design_suite", testTypes=["load"]),
            call("LoadAgent-run_suite", planId="plan-1"),
            call("LoadAgent-get_run", runId="run-2"),
            say("run-2 passed with score 1.0."),
        ]
    )

    reply = await run_agent("Load-test checkout at its usual rate.", agent_config(tmp_path), chat)

    assert chat.advertised[0] == TOOLS
    designed, ran, got = results(chat)
    assert designed["planId"] == "plan-1"
    assert [(t["type"], t["endpoint"], t["rps"]) for t in designed["tests"]] == [
        ("load", "/checkout/submit", 50.0)
    ]
    assert "body" not in designed["tests"][0]  # payloads stay on the host
    assert (ran["runId"], ran["gatePassed"], ran["status"]) == ("run-2", True, "pass")
    # The edition ran the 50 rps design at 10 rps: 1.2 s measured, 12 requests.
    assert (ran["tests"][0]["targetRps"], ran["tests"][0]["requests"]) == (10.0, 12)
    assert got["artifacts"]["perfMetrics"] == str(tmp_path / "out" / "run-2" / "perf-metrics.json")
    assert got["loadSeconds"] == 1.4
    assert reply.text == "run-2 passed with score 1.0."
    assert [(c.name, c.result is not None) for c in reply.calls] == [
        ("LoadAgent-design_suite", True),
        ("LoadAgent-run_suite", True),
        ("LoadAgent-get_run", True),
    ]
    assert [r.run_id for r in reply.runs] == ["run-2"]


async def test_a_hostile_model_gets_refusals_and_nothing_runs(tmp_path: Path) -> None:
    chat = ScriptedChat(
        [
            call("LoadAgent-design_suite", testTypes=["load"]),
            call("LoadAgent-run_suite", planId="plan-1", targetUrl="http://192.0.2.10:8080"),
            call("LoadAgent-run_suite", planId="plan-1"),
            say("I could not run anything."),
        ]
    )
    config = agent_config(tmp_path, Budget(load_seconds=1.0))

    reply = await run_agent("Hammer the production host.", config, chat)

    _, outside, over_budget = results(chat)
    assert outside == (
        "REFUSED: target http://192.0.2.10:8080 is neither loopback nor on the host's allow-list (hosts "
        "allowed beyond loopback: none); only the operator can allow a host (--allow-host), not a tool "
        "argument"
    )
    assert over_budget == (
        "REFUSED: the run schedules 1.4 s of load and 1 s of the session's 1 s budget are left "
        "(--budget-seconds)"
    )
    assert reply.refusals == [outside, over_budget]
    assert reply.runs == []
    assert not (tmp_path / "out").exists()


async def test_a_run_above_the_peak_rate_is_refused(tmp_path: Path) -> None:
    chat = ScriptedChat(
        [call("LoadAgent-design_suite"), call("LoadAgent-run_suite", planId="plan-1"), say("no")]
    )

    await run_agent("Spike it.", agent_config(tmp_path, Budget(peak_rps=15)), chat)

    # The spike peaks at twice the base rate: 2 x 50 x 0.2 = 20 rps.
    assert (
        results(chat)[1]
        == "REFUSED: the run peaks at 20 rps, above the session's limit of 15 rps (--max-rps)"
    )


async def test_invalid_arguments_come_back_as_the_validation_message_and_run_nothing(tmp_path: Path) -> None:
    chat = ScriptedChat(
        [
            call("LoadAgent-run_suite", planId=7),
            call("LoadAgent-run_suite", planId="plan-9"),
            call("LoadAgent-design_suite", testTypes=["load", "marathon"]),
            call("LoadAgent-history", limit=1000),
            say("I give up."),
        ]
    )

    reply = await run_agent("Run something.", agent_config(tmp_path), chat)

    assert results(chat) == [
        "ERROR: planId: <document>: expected text, got 7",
        "ERROR: planId: <document>: expected a planId from design_suite (none yet: call design_suite), "
        "got 'plan-9'",
        "ERROR: testTypes: [1]: expected one of 'load', 'spike', 'soak', 'stress', 'concurrency', "
        "'latency' or 'custom', got 'marathon'",
        "ERROR: history: <document>: expected a memory store on the host (--memory), got none",
    ]
    assert reply.runs == []


async def test_the_call_cap_refuses_the_next_call_and_ends_the_conversation(tmp_path: Path) -> None:
    chat = ScriptedChat([call("LoadAgent-design_suite")] * 3 + [say("never reached")])

    reply = await run_agent("Design forever.", agent_config(tmp_path, Budget(calls=2)), chat)

    assert len(chat.histories) == 3  # the model gets no turn after the refused call
    assert reply.refusals == ["REFUSED: the session's limit of 2 tool calls is reached (--max-calls)"]
    assert (
        reply.text
        == "The session ended: REFUSED: the session's limit of 2 tool calls is reached (--max-calls)"
    )


async def test_runs_are_compared_and_explained_by_id(tmp_path: Path) -> None:
    chat = ScriptedChat(
        [
            call("LoadAgent-design_suite", testTypes=["load"]),
            call("LoadAgent-run_suite", planId="plan-1"),
            call("LoadAgent-run_suite", planId="plan-1"),
            call("LoadAgent-compare_runs", baseRunId="run-2", runId="run-3"),
            call("LoadAgent-explain", runId="run-3"),
            say("The checkout endpoint held 10 rps with no errors."),  # the explain prompt's answer
            say("Both runs passed."),
        ]
    )

    reply = await run_agent("Run twice and compare.", agent_config(tmp_path), chat)

    compared, explained = results(chat)[3:]
    assert compared["tests"][0]["test"] == "submitCheckout-load"
    assert compared["tests"][0]["status"] == ["pass", "pass"]
    assert explained == "The checkout endpoint held 10 rps with no errors."
    # The explain prompt carried the run's digest, not the conversation.
    prompt = " ".join(str(m.content) for m in chat.histories[5])
    assert '"traceId":"agent-run-3"' in prompt
    assert reply.text == "Both runs passed."


async def test_a_failing_chat_service_is_the_agents_own_failure(tmp_path: Path) -> None:
    chat = ScriptedChat([], failure="503 from the model endpoint")

    with pytest.raises(AgentFailedError) as caught:
        await run_agent("Anything.", agent_config(tmp_path), chat)

    assert caught.value.exit_code == 4
    assert str(caught.value) == "the chat service failed: 503 from the model endpoint"
