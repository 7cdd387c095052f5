"""One tool run as a child process, bounded: asked to stop (SIGINT) at the bound, killed a grace later."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Finished:
    returncode: int
    stopped_at_bound: bool
    killed: bool
    cpu_seconds: float  # the child's user + system time
    wall_seconds: float
    started_at: float  # wall-clock (time.time()) of the launch
    stdout: str
    stderr: str


async def run_bounded(
    command: list[str], *, bound_s: float, grace_s: float, cwd: Path, env: dict[str, str], folder: Path
) -> Finished:
    """Run ``command`` to its end, or SIGINT it at ``bound_s`` and SIGKILL it ``grace_s`` after that.

    Output goes to files in ``folder`` (a chatty tool never fills a pipe and stalls).
    """
    out_path, err_path = folder / "tool.stdout", folder / "tool.stderr"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_at, t0 = time.time(), time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=err, start_new_session=True
        )
        stopped = killed = False
        try:
            try:
                await asyncio.wait_for(process.wait(), timeout=bound_s)
            except TimeoutError:
                stopped = True
                _signal(process, signal.SIGINT)
                try:
                    await asyncio.wait_for(process.wait(), timeout=grace_s)
                except TimeoutError:
                    killed = True
                    _signal(process, signal.SIGKILL)
                    await process.wait()
        finally:
            if process.returncode is None:  # cancelled: never leave the tool running
                _signal(process, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Finished(
        returncode=process.returncode if process.returncode is not None else -9,
        stopped_at_bound=stopped,
        killed=killed,
        cpu_seconds=cpu,
        wall_seconds=time.perf_counter() - t0,
        started_at=started_at,
        stdout=out_path.read_text(encoding="utf-8", errors="replace"),
        stderr=err_path.read_text(encoding="utf-8", errors="replace"),
    )


def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Signal the tool's whole process group (Locust's --processes forks): it runs in its own."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
