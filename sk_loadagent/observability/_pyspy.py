"""A CPU flamegraph of a local Python target: py-spy samples the target's stacks during the steady phase.

``py-spy record --nonblocking`` reads the target's memory without pausing it (100 samples a second, raw
collapsed stacks), started when the steady phase is due and stopped with it; the stacks become call paths
(``function (file:line)`` from the outermost frame in), rendered like the span flamegraph. py-spy needs to
read the target's memory (ptrace): where it cannot, the run goes on and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from sk_loadagent.models.trace_summary import CallPath

RATE = 100
MAX_PATHS = 200  # the heaviest stacks kept (they go into perf-metrics and memory)
GRACE_S = 3.0


def py_spy() -> str | None:
    """The py-spy executable: beside this interpreter (a venv), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def collapsed_paths(text: str, rate: int = RATE) -> list[CallPath]:
    """Call paths from py-spy's raw output (``frame;frame;frame count`` a line), heaviest first."""
    counts: dict[tuple[str, ...], int] = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        path = tuple(frame for frame in stack.split(";") if frame)
        if path:
            counts[path] = counts.get(path, 0) + int(count)
    heaviest = sorted(counts.items(), key=lambda item: -item[1])[:MAX_PATHS]
    return [CallPath(path=list(path), self_ms=n * 1000.0 / rate, count=n) for path, n in heaviest]


class CpuProfiler:
    """py-spy on ``pid`` from ``delay`` seconds for ``duration`` seconds (the steady phase)."""

    def __init__(self, pid: int, delay: float, duration: float) -> None:
        self.pid = pid
        self.delay = max(0.0, delay)
        self.duration = max(1, round(duration))
        self.warning: str | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="sk-loadagent-py-spy-")
        self._output = Path(self._folder.name) / "stacks.txt"
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._record())

    async def _record(self) -> None:
        executable = py_spy()
        if executable is None:
            self.warning = "py-spy: not installed, no CPU flamegraph (pip install py-spy)"
            return
        await asyncio.sleep(self.delay)
        command = [executable, "record", "--pid", str(self.pid), "--nonblocking", "--rate", str(RATE)]
        command += ["--duration", str(self.duration), "--format", "raw", "-o", str(self._output)]
        self._process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await self._process.communicate()
        if self._process.returncode != 0 and not self._output.exists():
            tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            self.warning = f"py-spy could not sample pid {self.pid}: {tail[0][:200]}"

    async def stop(self) -> list[CallPath] | None:
        """The call paths sampled (None, with ``warning`` set, when there are none)."""
        try:
            if self._task is not None and not self._task.done():
                if self._process is None:  # the steady phase never came: the run ended before it
                    self._task.cancel()
                else:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(asyncio.shield(self._task), GRACE_S)
                    if not self._task.done() and self._process.returncode is None:
                        os.kill(self._process.pid, signal.SIGINT)  # py-spy writes what it has on Ctrl-C
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._task, GRACE_S)
            if self._output.exists():
                paths = collapsed_paths(self._output.read_text(encoding="utf-8", errors="replace"))
                if paths:
                    return paths
                self.warning = self.warning or f"py-spy: no Python stacks sampled in pid {self.pid}"
            return None
        finally:
            self._folder.cleanup()
