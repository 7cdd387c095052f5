"""run_suite and its output folder: a run's artifacts land as one set, one run at a time, and a run that
fails or is interrupted leaves nothing that could be taken for its result (in-process mock target)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from semantic_kernel.exceptions import KernelInvokeException

from sk_loadagent.engine import MockReply, MockTransport, Outcome, RunOptions
from sk_loadagent.engine._transports.base import Binding
from sk_loadagent.errors import InputError, MemoryStoreError, TargetUnreachableError, root_cause
from sk_loadagent.memory import MemoryStore, RunRecord, open_store
from sk_loadagent.models.context import RunContext
from sk_loadagent.planners import agent
from sk_loadagent.planners.agent import AgentOutcome, SuiteRequest, run_suite

EDITION_COPY = "metrics/vetclinic/checkoutservice.json"
RUN_FILES = [
    "load-trace-map.yaml",
    "perf-metrics.json",
    "performance-score.log.jsonl",
    "studio.performance.preview.json",
]
# Written by every run but naming no traceId: the report (HTML) and the badge (SVG).
PAGES = ["report.html", "badges/vetclinic/checkoutservice.svg"]
# Studio's files accumulate across runs: a failed run leaves them as they were (publish.studio).
STUDIO = ["doc-coverage.metrics.json", "studio.analytics.json"]


class CountingMock(MockTransport):
    """A mock target that counts the runs bound to it (one per test run)."""

    def __init__(self, reply: MockReply) -> None:
        super().__init__(reply)
        self.runs = 0

    def bind(self, binding: Binding) -> None:
        super().bind(binding)
        self.runs += 1


def plan(trace_id: str, *, duration: str = "300ms") -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "moduleId": "CheckoutService",
        "editionId": "vetclinic",
        "baseUrl": "http://127.0.0.1:9",
        "endpoint": "/checkout/submit",
        "tests": [{"type": "load", "rps": 20, "duration": duration}],
    }


async def run(
    out: Path,
    document: dict[str, Any],
    *,
    reply: MockReply | None = None,
    store: MemoryStore | None = None,
    transport: MockTransport | None = None,
) -> AgentOutcome:
    mock = transport or MockTransport(reply or MockReply(latency=0.002))
    return await run_suite(
        SuiteRequest(plan=document),
        RunContext(),
        store=store,
        out_dir=out,
        options=RunOptions(workers=0, transport=mock, late_threshold_s=0.5),
        max_retries=0,
    )


def run_files(out: Path) -> dict[str, Any]:
    """Each artifact of the folder, parsed; hidden staging folders would show up here too."""
    found: dict[str, Any] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(out))
        if path.suffix == ".jsonl":
            found[name] = [json.loads(line) for line in text.splitlines()]
        elif path.suffix in (".html", ".svg"):
            found[name] = text
        else:
            found[name] = yaml.safe_load(text) if path.suffix == ".yaml" else json.loads(text)
    return found


def trace_ids(found: dict[str, Any]) -> dict[str, set[str]]:
    """The traceId each artifact names (the score log's lines, the trace map's top level, ...)."""
    ids: dict[str, set[str]] = {}
    for name, doc in found.items():
        lines = doc if isinstance(doc, list) else [doc]
        ids[name] = {line["traceId"] for line in lines if line.get("traceId")}
    return ids


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    with open_store(tmp_path / "memory.sqlite") as opened:
        yield opened


async def test_a_second_run_into_the_same_folder_replaces_the_whole_set(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    # Every answer of run 1 is a 503, so it also writes regression-alert.yaml and its edition copy.
    first = await run(out, plan("run-1"), reply=MockReply(status=503))
    assert first.metrics.status in ("degraded", "fail")
    assert {"regression-alert.yaml", "alerts/vetclinic/checkoutservice.yaml"} <= set(run_files(out))

    second = await run(out, plan("run-2"))

    assert second.metrics.status == "pass"
    found = run_files(out)
    assert sorted(found) == sorted([*RUN_FILES, EDITION_COPY, *PAGES, *STUDIO])
    assert trace_ids({name: found[name] for name in [*RUN_FILES, EDITION_COPY]}) == {
        name: {"run-2"} for name in [*RUN_FILES, EDITION_COPY]
    }
    assert "trace run-2" in found["report.html"]
    assert "run-1" not in found["report.html"]
    history = found["doc-coverage.metrics.json"]["modules"][0]["scoreHistory"]
    assert [point["traceId"] for point in history] == ["run-1", "run-2"]
    assert sorted(second.artifacts.values()) == sorted(
        str(out / name) for name in [*RUN_FILES, EDITION_COPY, *PAGES, *STUDIO]
    )


async def test_a_run_into_a_folder_another_run_holds_is_refused_before_it_sends_anything(
    tmp_path: Path,
) -> None:
    out = tmp_path / "perf"
    first = asyncio.create_task(run(out, plan("run-1", duration="1s")))
    while not any(out.glob(".sk-loadagent-staging-*")):  # run 1 has claimed the folder
        assert not first.done()
        await asyncio.sleep(0.01)
    second_target = CountingMock(MockReply())

    with pytest.raises(InputError) as refused:
        await run(out, plan("run-2"), transport=second_target)

    assert str(refused.value) == (
        f"--out: {out}: expected a folder no other run is writing to, got one in use by another "
        "sk-loadagent run (wait for it to end, or choose another --out)"
    )
    assert second_target.runs == 0
    await first
    found = run_files(out)
    assert sorted(found) == sorted([*RUN_FILES, EDITION_COPY, *PAGES, *STUDIO])
    assert trace_ids({name: found[name] for name in [*RUN_FILES, EDITION_COPY]}) == {
        name: {"run-1"} for name in [*RUN_FILES, EDITION_COPY]
    }
    assert found["studio.analytics.json"]["scopes"][0]["tile"]["traceId"] == "run-1"


async def test_an_interrupted_run_leaves_no_artifact_old_or_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "perf"
    await run(out, plan("run-1"))

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt  # after the publish step staged the run's artifacts, before the step log

    monkeypatch.setattr(agent, "write_score_log", interrupted)
    with pytest.raises(KeyboardInterrupt):
        await run(out, plan("run-2"))

    assert sorted(p.name for p in out.iterdir()) == STUDIO


async def test_an_unreachable_target_leaves_no_artifact_of_the_previous_run(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    await run(out, plan("run-1"))

    with pytest.raises(KernelInvokeException) as caught:
        await run(out, plan("run-2"), reply=MockReply(failure=Outcome.CONNECT_REFUSED))

    assert isinstance(root_cause(caught.value), TargetUnreachableError)
    assert sorted(p.name for p in out.iterdir()) == STUDIO


async def test_a_bad_plan_removes_the_previous_top_level_artifacts(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    await run(out, plan("run-1"))
    broken = {**plan("run-2"), "tests": [{"type": "load", "rps": -5, "duration": "1s"}]}

    with pytest.raises(KernelInvokeException) as caught:
        await run(out, broken)

    assert isinstance(root_cause(caught.value), InputError)
    # The plan was never read, so only the top-level names are known to be this run's.
    assert sorted(run_files(out)) == sorted([EDITION_COPY, PAGES[1], *STUDIO])


async def test_a_memory_store_that_refuses_the_run_leaves_no_artifact(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "perf"
    await run(out, plan("run-1"), store=store)

    def refuse(record: RunRecord) -> RunRecord:
        raise MemoryStoreError("memory.sqlite: disk I/O error")

    monkeypatch.setattr(store, "push", refuse)
    with pytest.raises(KernelInvokeException) as caught:
        await run(out, plan("run-2"), store=store)

    assert str(root_cause(caught.value)) == "memory.sqlite: disk I/O error"
    assert sorted(p.name for p in out.iterdir()) == STUDIO
