"""Run a load tool as a child process and measure it the same way for every tool.

CPU is the rusage that wait4 returns for the child: on Linux it includes every descendant the child waited
for (the engine's worker processes, k6's and wrk's threads), so each tool's whole generator is counted.
RSS is sampled from /proc over the child's process tree.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Finished:
    """What one tool run left: its output, exit code, CPU seconds (user + system) and wall seconds."""

    output: str
    returncode: int
    cpu_seconds: float
    wall_seconds: float
    max_rss_mb: float = 0.0
    rss_trace: list[tuple[float, float]] = field(default_factory=list)
    cpu_trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, tree CPU-s)

    def steady_utilisation(self, skip_start: float, skip_end: float) -> float | None:
        """CPU cores the tool used between ``skip_start`` s after its start and ``skip_end`` s before its end:
        its running rate without the one-off cost of starting (imports, JIT, VU setup) and stopping."""
        if not self.cpu_trace:
            return None
        last = self.cpu_trace[-1][0]
        window = [s for s in self.cpu_trace if skip_start <= s[0] <= last - skip_end]
        if len(window) < 2 or window[-1][0] - window[0][0] < 1.0:
            return None
        (ta, ca), (tb, cb) = window[0], window[-1]
        return (cb - ca) / (tb - ta)


@dataclass
class SatRun:
    """A closed-model run at saturation: what it completed, and the CPU its process tree used for it."""

    requests: int
    cpu: float  # rusage of the whole process tree, start to exit
    steady_util: float | None  # cores used in the middle of the run
    seconds: float
    engine_block: dict[str, object] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def per_cpu_s(self) -> float:
        """Requests per generator CPU-second while running (start-up and shutdown excluded if measured)."""
        if self.steady_util:
            return self.rps / self.steady_util
        return self.requests / self.cpu if self.cpu else math.nan

    @property
    def whole_per_cpu_s(self) -> float:
        return self.requests / self.cpu if self.cpu else math.nan


def median(values: Sequence[float | None]) -> float:
    """The median of the finite values (NaN when there are none)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def saturation_cells(runs: Sequence[SatRun], engine_runs: Sequence[SatRun], engine: bool) -> list[str]:
    """A saturation table's figures for one tool's runs (medians): the rate, CPU-s, CPU µs per request,
    requests per CPU-s steady and over the whole run, and the engine's ratio to the tool, run by run."""
    per = median([r.per_cpu_s for r in runs])
    ratios = [m.per_cpu_s / r.per_cpu_s for m, r in zip(engine_runs, runs, strict=False)]
    return [
        f"{median([r.rps for r in runs]):,.0f}",
        f"{median([r.cpu for r in runs]):.2f}",
        f"{1e6 / per:.1f}",
        f"{per:,.0f}",
        f"{median([r.whole_per_cpu_s for r in runs]):,.0f}",
        "—" if engine else f"{median(ratios):.2f}× ({', '.join(f'{x:.2f}' for x in ratios)})",
    ]


def tree_pids(root: int) -> list[int]:
    """``root`` and every live descendant (via /proc/<pid>/task/<tid>/children)."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                todo.extend(int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
            except OSError:
                continue
    return pids


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one live process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu_seconds(root: int) -> float:
    return sum(cpu_seconds(pid) for pid in tree_pids(root))


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def tree_rss_mb(root: int) -> float:
    return sum(rss_mb(pid) for pid in tree_pids(root))


def tree_rss_by_role(root: int) -> dict[str, float]:
    """RSS of a tree split into the root (the controlling process), spawned multiprocessing workers and the
    rest (multiprocessing's resource tracker): the workers are what generates the load."""
    roles = {"root": 0.0, "workers": 0.0, "other": 0.0}
    for pid in tree_pids(root):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        role = "root" if pid == root else "workers" if b"spawn_main" in cmdline else "other"
        roles[role] += rss_mb(pid)
    return roles


def run_tool(
    cmd: list[str],
    *,
    cpus: str,
    limit_seconds: float,
    env: dict[str, str] | None = None,
    rss_every: float = 0.0,
    on_rss: Callable[[float, int], None] | None = None,
) -> Finished:
    """Run ``cmd`` pinned to ``cpus`` (taskset list), killed after ``limit_seconds``; stdout+stderr kept."""
    started = time.monotonic()
    process = subprocess.Popen(
        ["taskset", "-c", cpus, *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, **(env or {})),
        start_new_session=True,
    )
    chunks: list[bytes] = []
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    trace: list[tuple[float, float]] = []
    cpu_trace: list[tuple[float, float]] = []
    next_rss = started + rss_every if rss_every else float("inf")
    try:
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            _drain(process.stdout.fileno(), chunks)
            if pid:
                break
            now = time.monotonic()
            cpu_trace.append((now - started, tree_cpu_seconds(process.pid)))
            if now >= next_rss:
                sample = (now - started, tree_rss_mb(process.pid))
                trace.append(sample)
                if on_rss is not None:
                    on_rss(sample[0], process.pid)
                next_rss += rss_every
            if now - started > limit_seconds:
                os.killpg(process.pid, signal.SIGKILL)
            time.sleep(0.1)
    except BaseException:
        # The bench itself is ending (Ctrl-C, SIGTERM): take the tool's whole session down with it.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    _drain(process.stdout.fileno(), chunks)
    process.stdout.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Finished(
        output=b"".join(chunks).decode(errors="replace"),
        returncode=process.returncode,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        wall_seconds=time.monotonic() - started,
        max_rss_mb=max((r for _, r in trace), default=usage.ru_maxrss / 1024.0),
        rss_trace=trace,
        cpu_trace=cpu_trace,
    )


def _drain(fd: int, chunks: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not data:
            return
        chunks.append(data)
