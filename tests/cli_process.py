"""The CLI in a child process under load, for tests that signal it or its workers."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

COMMAND = [sys.executable, "-m", "sk_loadagent.cli.main"]


def spawned_workers(pid: int) -> list[psutil.Process]:
    """The load workers (multiprocessing spawn children) of process ``pid``."""
    return [p for p in psutil.Process(pid).children() if "spawn_main" in " ".join(p.cmdline())]


@contextlib.contextmanager
def cli_under_load(
    argv: list[str], cwd: Path, *, workers: int, new_session: bool = False
) -> Iterator[tuple[subprocess.Popen[str], list[psutil.Process]]]:
    """``sk-loadagent *argv`` in a child process, yielded once its ``workers`` have run for two seconds.

    ``new_session`` gives it a process group of its own, as a shell does for a foreground job.
    """
    run = subprocess.Popen(
        [*COMMAND, *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )
    try:
        limit = time.monotonic() + 60
        while len(found := spawned_workers(run.pid)) < workers and time.monotonic() < limit:
            time.sleep(0.1)
        assert len(found) == workers, "the workers never started"
        time.sleep(2.0)  # into the schedule
        yield run, found
    finally:
        run.kill()
        run.wait()
