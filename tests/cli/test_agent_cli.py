"""`sk-loadagent agent "…"`: with a chat service (a scripted one here, patched in where the CLI looks up
the environment's) against the sample service; without one, the deterministic designer, and it says so."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fake_chat import ScriptedChat, call, say

import sk_loadagent.prompts
from sk_loadagent.cli.agent import NO_SERVICE
from sk_loadagent.cli.main import main
from sk_loadagent.models.loading import load_document
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.prompts.services import AZURE_VARS, OPENAI_VARS
from sk_loadagent.sample_service import SampleService, samples_dir

Cli = Callable[..., Any]
VETCLINIC = samples_dir() / "vetclinic"
INPUTS = [
    "--openapi",
    str(VETCLINIC / "generated.api.yaml"),
    "--metadata",
    str(VETCLINIC / "service.metadata.yaml"),
]


@pytest.fixture
def no_chat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*OPENAI_VARS, *AZURE_VARS):
        monkeypatch.delenv(name, raising=False)


def use_chat(monkeypatch: pytest.MonkeyPatch, chat: ScriptedChat) -> None:
    monkeypatch.setattr(sk_loadagent.prompts, "chat_service_from_env", lambda: chat)


def test_without_a_chat_service_the_agent_designs_a_plan_and_says_so(
    cli: Cli, workdir: Path, no_chat_env: None
) -> None:
    result = cli("agent", "test checkout", *INPUTS, "--no-memory")

    assert (result.code, result.err) == (0, NO_SERVICE + "\n")
    assert result.out == (
        "Designed perf/agent/designed.plan.yaml: 3 test(s) for CheckoutService\n"
        "  submitCheckout-load: POST /checkout/submit\n"
        "  submitCheckout-spike: POST /checkout/submit\n"
        "  login-load: POST /auth/login\n"
        "Run it with: sk-loadagent run --plan perf/agent/designed.plan.yaml\n"
    )
    plan = load_document(workdir / "perf" / "agent" / "designed.plan.yaml", TestSuitePlan)
    assert [t.type for t in plan.tests] == ["load", "spike", "load"]


def test_the_fallback_needs_the_files_to_design_from(cli: Cli, workdir: Path, no_chat_env: None) -> None:
    result = cli("agent", "test checkout", "--no-memory")

    assert (result.code, result.out) == (2, "")
    assert result.err == (
        NO_SERVICE + "\n"
        "sk-loadagent: bad input: agent: --openapi: expected a file to design from (without a chat service "
        "the agent only designs), got none\n"
    )


def test_a_model_runs_a_designed_plan_against_the_sample_service(
    cli: Cli, workdir: Path, service: SampleService, monkeypatch: pytest.MonkeyPatch
) -> None:
    editions = {
        "editions": [{"editionId": "vetclinic", "trafficModel": {"rpsScale": 0.2, "durationScale": 0.05}}]
    }
    (workdir / "editions.json").write_text(json.dumps(editions))
    use_chat(
        monkeypatch,
        ScriptedChat(
            [
                call("LoadAgent-design_suite", testTypes=["load"]),
                call("LoadAgent-run_suite", planId="plan-1"),
                say("Checkout held 10 rps: pass."),
            ]
        ),
    )

    result = cli(
        "agent",
        "test checkout",
        *INPUTS,
        "--editions",
        "editions.json",
        "--target-url",
        service.url,
        "--no-memory",
    )

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith('  tool: LoadAgent-design_suite {"testTypes": ["load"]} -> {"planId":"plan-1"')
    assert lines[1].startswith('  tool: LoadAgent-run_suite {"planId": "plan-1"} -> {"runId":"run-2"')
    assert lines[2:] == ["run-2: pass 1.00, gate passed (perf/agent/run-2)", "Checkout held 10 rps: pass."]
    assert (workdir / "perf" / "agent" / "run-2" / "perf-metrics.json").is_file()


def test_a_failing_chat_service_exits_4(cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_chat(monkeypatch, ScriptedChat([], failure="connection reset by the model endpoint"))

    result = cli("agent", "test checkout", *INPUTS, "--no-memory")

    assert (result.code, result.out) == (4, "")
    assert (
        result.err
        == "sk-loadagent: agent failure: the chat service failed: connection reset by the model endpoint\n"
    )


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--budget-seconds", "-5", "expected a number greater than 0, got -5"),
        ("--max-rps", "lots", "expected a number greater than 0, got 'lots'"),
        ("--max-calls", "0", "expected a number greater than 0, got 0"),
        ("--max-retries", "-1", "expected a whole number from 0 to 10, got '-1'"),
        ("--max-retries", "11", "expected a whole number from 0 to 10, got '11'"),
    ],
)
def test_a_limit_that_is_no_positive_number_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, expected: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["agent", "x", f"{option}={value}"])

    assert exited.value.code == 2
    assert (
        capsys.readouterr().err.splitlines()[-1]
        == f"sk-loadagent agent: error: argument {option}: {expected}"
    )
