"""`--out` is checked before any load is sent: a folder that cannot be written, or that another run holds,
is bad input (exit 2) on one line naming the folder, without a traceback. A run that fails or is
interrupted leaves no artifact there, neither its own nor an earlier run's under the same names."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sk_loadagent.errors import MemoryStoreError
from sk_loadagent.publish.outdir import OutputFolder
from sk_loadagent.sample_service import SampleService

Cli = Callable[..., Any]


def run(cli: Cli, plan: Path, out: Path) -> Any:
    return cli("run", "--plan", str(plan), "--no-memory", "--quiet", "--max-retries", "0", "--out", str(out))


def test_an_unwritable_out_is_refused_before_the_load_starts(
    cli: Cli, write_plan: Callable[..., Path], closed_port: int, tmp_path: Path
) -> None:
    # Nothing listens on the target: had any load been sent, the run would end with exit 3.
    plan = write_plan(f"http://127.0.0.1:{closed_port}")
    blocker = tmp_path / "results.txt"
    blocker.write_text("a file where the folder should go\n")

    result = run(cli, plan, blocker / "perf")

    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"sk-loadagent: bad input: --out: {blocker / 'perf'}: expected a folder this run can write to, "
        "got Not a directory\n"
    )


def test_an_out_another_run_holds_is_refused_before_the_load_starts(
    cli: Cli, write_plan: Callable[..., Path], closed_port: int, tmp_path: Path
) -> None:
    plan = write_plan(f"http://127.0.0.1:{closed_port}")
    out = tmp_path / "perf"
    (out / "perf-metrics.json").parent.mkdir()
    (out / "perf-metrics.json").write_text('{"traceId": "the-other-run"}\n')

    with OutputFolder.claim(out):
        result = run(cli, plan, out)

    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"sk-loadagent: bad input: --out: {out}: expected a folder no other run is writing to, got one in "
        "use by another sk-loadagent run (wait for it to end, or choose another --out)\n"
    )
    # The refused run touches nothing of the run that holds the folder.
    assert (out / "perf-metrics.json").read_text() == '{"traceId": "the-other-run"}\n'


def test_a_store_that_does_not_open_leaves_no_earlier_artifact_in_out(
    cli: Cli, write_plan: Callable[..., Path], closed_port: int, tmp_path: Path
) -> None:
    plan = write_plan(f"http://127.0.0.1:{closed_port}")
    out = tmp_path / "perf"
    (out / "metrics" / "vetclinic").mkdir(parents=True)
    edition_copy = "metrics/vetclinic/checkoutservice.json"
    earlier = ["perf-metrics.json", "studio.performance.preview.json", edition_copy]
    for name in earlier:
        (out / name).write_text('{"traceId": "an-earlier-run"}\n')
    memory = tmp_path / "memory.json"
    memory.write_text("[1, 2]\n")

    result = cli("run", "--plan", str(plan), "--memory", str(memory), "--quiet", "--out", str(out))

    assert result.code == MemoryStoreError.exit_code
    assert result.err.startswith(f"sk-loadagent: bad input: {memory}: ")
    # The plan was never read, so only the top-level names are known to be this run's.
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [edition_copy]


def test_a_run_interrupted_with_sigint_leaves_no_artifact_old_or_new(
    write_plan: Callable[..., Path], service: SampleService, tmp_path: Path
) -> None:
    plan = write_plan(service.url, test="type: load\n    rps: 20\n    duration: 30s")
    out = tmp_path / "perf"
    out.mkdir()
    (out / "perf-metrics.json").write_text('{"traceId": "an-earlier-run"}\n')
    command = [sys.executable, "-m", "sk_loadagent.cli.main", "run", "--plan", str(plan), "--no-memory"]
    run = subprocess.Popen(
        [*command, "--quiet", "--workers", "1", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(out.glob(".sk-loadagent-staging-*")):  # the run has claimed --out
            assert run.poll() is None, "the run ended before it claimed --out"
            assert time.monotonic() < deadline, "the run never claimed --out"
            time.sleep(0.05)
        time.sleep(1.0)  # load is being sent
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()

    assert (run.returncode, err) == (130, "sk-loadagent: interrupted (SIGINT): stopped before finishing\n")
    assert list(out.iterdir()) == []
