"""--explain end to end: run_suite on a scripted in-process target (MockTransport, no sockets) with a fake
chat service, and the CLI against the sample service with no chat service configured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sk_loadagent.cli.main import MEMORY_ENV, main
from sk_loadagent.engine import MockReply, MockTransport, RunOptions
from sk_loadagent.models.context import RunContext
from sk_loadagent.planners.agent import AgentOutcome, SuiteRequest, run_suite
from sk_loadagent.prompts import NO_CHAT_SERVICE, NO_SERVICE_LINE
from sk_loadagent.sample_service import SampleService

FakeChat = Any  # the conftest fixture's in-process chat service
PLAN = {
    "traceId": "proj-explain",
    "moduleId": "CheckoutService",
    "editionId": "vetclinic",
    "baseUrl": "http://127.0.0.1:9",
    "endpoint": "/checkout/submit",
    "tests": [{"name": "tiny", "type": "load", "rps": 40, "duration": "500ms"}],
}


async def _run(tmp_path: Path, **kwargs: Any) -> AgentOutcome:
    return await run_suite(
        SuiteRequest(plan=PLAN),
        RunContext(),
        store=None,
        out_dir=tmp_path / "perf",
        options=RunOptions(
            workers=0, transport=MockTransport(MockReply(latency=0.004)), late_threshold_s=0.5
        ),
        max_retries=0,
        **kwargs,
    )


def _preview(out_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out_dir / "studio.performance.preview.json").read_text())
    return data


async def test_the_explanation_lands_in_the_preview_and_the_step_log(
    tmp_path: Path, fake_chat: FakeChat
) -> None:
    outcome = await _run(tmp_path, chat_service=fake_chat, explain=True)

    assert (outcome.explanation, outcome.explanation_note) == (fake_chat.reply, None)
    preview = _preview(tmp_path / "perf")
    assert preview["explanation"] == fake_chat.reply
    assert preview["traceId"] == "proj-explain"
    # The model was sent this run's measured p95, as the summary table prints it.
    (_, user) = fake_chat.prompts[0][1]
    p95 = outcome.metrics.tests[0].latency.p95  # type: ignore[index, union-attr]
    assert f'"p95":{round(p95, 2)}' in user
    log = (tmp_path / "perf" / "performance-score.log.jsonl").read_text()
    steps = [json.loads(line) for line in log.splitlines()]
    explain_steps = [s for s in steps if s.get("step") == "LoadAgentPrompts-explain_run"]
    assert [(s["outcome"], s["traceId"]) for s in explain_steps] == [("ok", "proj-explain")]


async def test_explain_without_a_chat_service_leaves_the_run_unchanged(tmp_path: Path) -> None:
    outcome = await _run(tmp_path, explain=True)

    assert (outcome.explanation, outcome.explanation_note) == (None, NO_CHAT_SERVICE)
    assert "explanation" not in _preview(tmp_path / "perf")


@pytest.fixture(scope="module")
def service() -> Iterator[SampleService]:
    with SampleService(release="stable", latency_ms=5, jitter=0.1) as started:
        yield started


@pytest.fixture
def cli_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    service: SampleService,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """``sk-loadagent run`` of one passing 20 rps, half-second test, from the test's own directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    plan = tmp_path / "plan.yaml"
    plan.write_text(json.dumps({**PLAN, "baseUrl": service.url, "tests": [{**PLAN["tests"][0], "rps": 20}]}))
    limits = tmp_path / "perf-thresholds.yaml"
    limits.write_text("thresholds:\n  latencyP95: 5000\n  rpsMin: 1\n")

    def run(*extra: str) -> tuple[int, str, str]:
        capsys.readouterr()
        common = ["--no-memory", "--quiet", "--workers", "0", "--max-retries", "0", "--out", "out"]
        code = main(["run", "--plan", str(plan), "--thresholds", str(limits), *common, *extra])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.mark.usefixtures("no_chat_env")
def test_explain_without_a_configured_service_says_so_and_runs_normally(cli_run: Any, tmp_path: Path) -> None:
    code, out, err = cli_run("--explain")

    assert code == 0
    assert err.splitlines() == [NO_SERVICE_LINE]
    assert NO_SERVICE_LINE == (
        "--explain needs a chat service: set OPENAI_API_KEY and OPENAI_CHAT_MODEL_ID, "
        "or AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and AZURE_OPENAI_CHAT_DEPLOYMENT_NAME"
    )
    assert "Gate: PASSED" in out
    assert "Explanation:" not in out
    assert "explanation" not in _preview(tmp_path / "out")


def test_explain_with_a_configured_service_prints_it_under_the_table(
    cli_run: Any, tmp_path: Path, fake_chat: FakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stands in for the OpenAI/Azure connector the environment variables would create.
    monkeypatch.setattr("sk_loadagent.prompts.chat_service_from_env", lambda: fake_chat)

    code, out, err = cli_run("--explain")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    table_end = lines.index("Explanation:") - 1
    assert lines[table_end] == ""
    assert lines[table_end - 1].startswith("tiny ")
    assert lines[table_end + 2] == "  " + fake_chat.reply
    assert _preview(tmp_path / "out")["explanation"] == fake_chat.reply
