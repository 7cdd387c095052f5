"""Exit 4: the agent itself failed (a load worker died, the memory store is unreachable or failed, the disk is
full, a bug), with one line on stderr and no traceback; a store that is no store stays bad input (2).

Disk full is simulated with a file-size limit (RLIMIT_FSIZE) on the CLI process: the kernel refuses the
write with EFBIG, as a full disk refuses it with ENOSPC, and no privileges or tmpfs mount are needed.
"""

from __future__ import annotations

import re
import resource
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_process import COMMAND, cli_under_load

from sk_loadagent.cli import commands
from sk_loadagent.cli.main import DEBUG_ENV
from sk_loadagent.memory import open_store
from sk_loadagent.sample_service import SampleService

Cli = Callable[..., Any]
MEMORY_FIXTURES = Path(__file__).resolve().parents[1] / "memory" / "fixtures"


def agent_failure(message: str) -> str:
    return f"sk-loadagent: agent failure: {message}\n"


def test_a_worker_that_dies_mid_run_exits_4(
    write_plan: Callable[..., Path], service: SampleService, tmp_path: Path
) -> None:
    plan = write_plan(service.url, test="type: load\n    rps: 50\n    duration: 30s")
    argv = ["run", "--plan", str(plan), "--no-memory", "--quiet", "--workers", "2", "--max-retries", "0"]
    with cli_under_load(argv, tmp_path, workers=2) as (run, workers):
        workers[0].send_signal(signal.SIGKILL)
        out, err = run.communicate(timeout=60)
    assert run.returncode == 4
    assert re.fullmatch(
        r"sk-loadagent: agent failure: load worker [01] stopped before finishing \(it exited with code -9\); "
        r"its share of the load is missing, so the run has no valid result\n",
        err,
    ), err
    assert out == ""


def test_an_unreachable_postgresql_store_exits_4_before_any_load(
    cli: Cli, write_plan: Callable[..., Path], closed_port: int
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port}/test"
    result = cli("run", "--plan", str(write_plan("http://127.0.0.1:9")), "--memory", url, "--quiet")
    assert (result.code, result.out) == (4, "")
    assert result.err.startswith(
        agent_failure(
            f"{url}: <connection>: expected a PostgreSQL server we can connect to, got connection failed: "
        ).rstrip("\n")
    )
    assert result.err.count("\n") == 1
    assert "Connection refused" in result.err


def test_a_json_file_that_is_not_a_store_is_bad_input_before_any_load(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    memory = tmp_path / "notes.json"
    memory.write_text('{"hello": 1}')
    result = cli("run", "--plan", str(write_plan("http://127.0.0.1:9")), "--memory", str(memory), "--quiet")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"sk-loadagent: bad input: {memory}: <document>: expected a memory store "
        '{"schemaVersion": N, "runs": [...]} or perf-baseline.memory.json entries, got a mapping with fields '
        "hello\n"
    )
    assert memory.read_text() == '{"hello": 1}'


def test_a_read_only_baseline_document_as_the_store_is_refused_before_any_load(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    memory = tmp_path / "perf-baseline.memory.json"
    memory.write_bytes((MEMORY_FIXTURES / "c03_perf-baseline.memory.json").read_bytes())
    result = cli("run", "--plan", str(write_plan("http://127.0.0.1:9")), "--memory", str(memory), "--quiet")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"sk-loadagent: bad input: {memory}: <file>: expected a memory store to write to (this "
        "perf-baseline.memory.json is read only; push to a new .json or SQLite store instead), got a "
        "perf-baseline document\n"
    )


def _file_size_limit(nbytes: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


def _run_limited(plan: Path, cwd: Path, limit: int, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, "run", "--plan", str(plan), "--quiet", "--workers", "0", "--max-retries", "0", *flags],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_file_size_limit(limit),
        check=False,
    )


def test_a_full_disk_while_writing_artifacts_exits_4(
    write_plan: Callable[..., Path], service: SampleService, tmp_path: Path
) -> None:
    plan = write_plan(service.url)
    done = _run_limited(plan, tmp_path, 4096, "--no-memory")
    assert (done.returncode, done.stdout) == (4, "")
    assert done.stderr == agent_failure("cannot write to disk: File too large")


def test_a_store_that_fails_during_the_run_exits_4(
    cli: Cli, write_plan: Callable[..., Path], service: SampleService, tmp_path: Path
) -> None:
    plan = write_plan(service.url)
    memory = tmp_path / "memory.json"
    # Stored without comparing, so no run's gate or artifacts depend on the noise between these short runs.
    store = ("--memory", str(memory), "--no-memory-compare")
    for out in ("first", "second", "third"):  # a store of three runs: larger than any artifact of one
        assert cli("run", "--plan", str(plan), *store, "--quiet", "--workers", "0", "--out", out,
                   "--max-retries", "0").code == 0  # fmt: skip
    before = memory.read_bytes()
    artifact = len((tmp_path / "third" / "perf-metrics.json").read_bytes())
    assert len(before) > artifact

    # The artifacts still fit under the limit; the store, rewritten with a fourth run, does not.
    limit = len(before) + 1000
    done = _run_limited(plan, tmp_path, limit, *store, "--out", "fourth")
    assert (done.returncode, done.stdout) == (4, "")
    assert done.stderr == agent_failure(
        f"memory store failed during the run: {memory}: <file>: expected a writable location, got "
        "[Errno 27] File too large"
    )
    assert memory.read_bytes() == before  # the stored history is untouched
    with open_store(memory) as store:
        assert len(store.find()) == 3


def test_an_unexpected_error_is_one_line_and_exit_4(
    cli: Cli, write_plan: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> object:
        raise RuntimeError("something nobody foresaw\nsecond line")

    monkeypatch.setattr(commands, "caps_from", broken)
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    result = cli("plan", "--plan", str(write_plan("http://127.0.0.1:9")))
    assert (result.code, result.out) == (4, "")
    assert result.err == agent_failure(
        f"RuntimeError: something nobody foresaw (set {DEBUG_ENV}=1 for the traceback)"
    )

    monkeypatch.setenv(DEBUG_ENV, "1")
    result = cli("plan", "--plan", str(write_plan("http://127.0.0.1:9")))
    assert result.code == 4
    assert result.err.startswith(agent_failure("RuntimeError: something nobody foresaw"))
    assert "Traceback (most recent call last)" in result.err
