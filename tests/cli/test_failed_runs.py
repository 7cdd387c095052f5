"""A run that fails never touches stored history: the SQLite memory is the same, byte for byte."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sk_loadagent.memory import open_store
from sk_loadagent.sample_service import SampleService

Cli = Callable[..., Any]


def fingerprint(memory: Path) -> dict[str, str]:
    """The bytes of the database and of any journal beside it."""
    files = [memory, *memory.parent.glob(f"{memory.name}-*")]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.exists()}


def stored_runs(memory: Path) -> list[dict[str, Any]]:
    with open_store(memory) as store:
        return [record.model_dump(mode="json") for record in store.find()]


def test_failed_runs_leave_the_memory_unchanged(
    cli: Cli, write_plan: Callable[..., Path], service: SampleService, closed_port: int, tmp_path: Path
) -> None:
    memory = tmp_path / "history" / "memory.sqlite"
    common = ("--memory", str(memory), "--quiet", "--workers", "0", "--max-retries", "0")
    good = write_plan(service.url, name="good.plan.yaml")
    assert cli("run", "--plan", str(good), "--out", "run-1", *common).code == 0
    before_bytes = fingerprint(memory)
    before_runs = stored_runs(memory)
    assert [(r["traceId"], r["status"], r["isBaseline"]) for r in before_runs] == [("cli-run", "pass", True)]
    assert fingerprint(memory) == before_bytes  # reading the history changes nothing either

    bad = write_plan(service.url, name="bad.plan.yaml", test="type: load\n    rps: -5\n    duration: 1s")
    assert cli("run", "--plan", str(bad), "--out", "run-2", *common).code == 2
    assert fingerprint(memory) == before_bytes
    assert stored_runs(memory) == before_runs

    unreachable = write_plan(f"http://127.0.0.1:{closed_port}", name="unreachable.plan.yaml")
    assert cli("run", "--plan", str(unreachable), "--out", "run-3", *common).code == 3
    assert fingerprint(memory) == before_bytes
    assert stored_runs(memory) == before_runs
    assert not Path("run-2").exists()
    assert not Path("run-3").exists()
