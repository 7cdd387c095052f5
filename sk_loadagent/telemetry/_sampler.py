"""CPU and memory of the target process, sampled in a background thread while a test runs."""

from __future__ import annotations

import threading
import time
from array import array
from types import TracebackType

import numpy as np
import psutil

from sk_loadagent.telemetry._cgroup import cpu_quota_cores as _machine_quota
from sk_loadagent.telemetry.resources import ResourceSamples

_JOIN_TIMEOUT_S = 5.0
_MB = 2.0**20


class ProcessSampler:
    """Samples one process (and, by default, its descendants) every ``interval`` seconds.

    Each sample is taken at wall-clock time ``t`` and holds the CPU used since the previous sample, as a
    percentage of one core (from ``cpu_times`` deltas, so it is exact to the kernel's clock tick, 10 ms),
    and the resident set size in MB summed over the processes (shared pages count once per process).

    The thread is a daemon and never raises: a process that exits, or cannot be read, ends sampling with a
    note in ``ResourceSamples.notes``. Memory is bounded: once ``max_samples`` are held, neighbouring
    samples are merged in pairs and the interval doubles, so a soak of any length fits.

    A child that exits between two samples loses its CPU of that last partial interval: its parent's
    ``children_*`` times are not used, since they would count again what was already counted.
    """

    def __init__(
        self,
        pid: int,
        interval: float = 0.25,
        include_children: bool = True,
        cpu_quota_cores: float | None = None,
        *,
        max_samples: int = 100_000,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        if max_samples < 2:
            raise ValueError(f"max_samples must be at least 2, got {max_samples!r}")
        self.pid = pid
        self.interval = interval
        self.include_children = include_children
        self.cpu_quota_cores = cpu_quota_cores if cpu_quota_cores is not None else _machine_quota(pid)
        self.max_samples = max_samples
        self._t = array("d")
        self._cpu = array("d")
        self._rss = array("d")
        self._notes: list[str] = []
        self._stop = threading.Event()
        self._started = False
        self._thread: threading.Thread | None = None
        self._result: ResourceSamples | None = None
        self._process: psutil.Process | None = None
        self._cpu_seen: dict[tuple[int, float], float] = {}
        self._last_mono = 0.0

    # ---- control

    def start(self) -> None:
        """Take the baseline reading now and sample in the background from here on."""
        if self._started:
            raise RuntimeError("a ProcessSampler can be started once")
        self._started = True
        try:
            self._process = psutil.Process(self.pid)
            reading = self._read()
        except psutil.Error as exc:
            self._notes.append(self._ended_note(exc))
            return
        if reading is None:
            self._notes.append(f"process {self.pid} had already exited: nothing sampled")
            return
        self._cpu_seen, _ = reading
        self._last_mono = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"ProcessSampler[{self.pid}]", daemon=True)
        self._thread.start()

    def stop(self) -> ResourceSamples:
        """Stop sampling (if the process has not already ended it) and return the samples; idempotent."""
        if self._result is not None:
            return self._result
        if not self._started:
            raise RuntimeError("the ProcessSampler was never started")
        self._stop.set()
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT_S)
            if self._thread.is_alive():
                self._notes.append(f"the sampling thread did not stop within {_JOIN_TIMEOUT_S:g} s")
        self._result = ResourceSamples(
            pid=self.pid,
            t=np.frombuffer(self._t, dtype=np.float64).copy(),
            cpu_pct=np.frombuffer(self._cpu, dtype=np.float64).copy(),
            rss_mb=np.frombuffer(self._rss, dtype=np.float64).copy(),
            cpu_quota_cores=self.cpu_quota_cores,
            notes=list(self._notes),
        )
        return self._result

    @property
    def running(self) -> bool:
        """True while the background thread samples (False once stopped or once the process has exited)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def result(self) -> ResourceSamples:
        """The samples, once ``stop()`` has run (the context managers call it on exit)."""
        if self._result is None:
            raise RuntimeError("the ProcessSampler has not been stopped yet")
        return self._result

    def __enter__(self) -> ProcessSampler:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> ProcessSampler:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- the thread

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # the thread must never die with a traceback
            self._notes.append(f"sampling stopped by {type(exc).__name__}: {exc}")

    def _loop(self) -> None:
        due = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            if not self._sample():
                return
            due += self.interval
            now = time.monotonic()
            if due < now:  # fell behind (a starved machine): skip the missed ticks rather than burst
                due = now + self.interval

    def _sample(self) -> bool:
        """Record one sample; False once the process is gone."""
        try:
            reading = self._read()
        except psutil.Error as exc:
            self._notes.append(self._ended_note(exc))
            return False
        if reading is None:
            self._notes.append(f"process {self.pid} exited; sampling ended after {len(self._t)} samples")
            return False
        cpu_seen, rss = reading
        mono, wall = time.monotonic(), time.time()
        # Every process is listed at every sample, so one not seen before was born since the last one.
        used = sum(max(0.0, total - self._cpu_seen.get(key, 0.0)) for key, total in cpu_seen.items())
        elapsed = mono - self._last_mono
        self._cpu_seen, self._last_mono = cpu_seen, mono
        self._append(wall, 100.0 * used / elapsed if elapsed > 0 else 0.0, rss / _MB)
        return True

    def _read(self) -> tuple[dict[tuple[int, float], float], float] | None:
        """Cumulative CPU seconds per process (keyed by pid and start time) and summed RSS in bytes; None
        once the target has exited (a zombie counts as exited)."""
        assert self._process is not None
        try:
            with self._process.oneshot():
                if self._process.status() == psutil.STATUS_ZOMBIE:
                    return None
                processes = [self._process]
                if self.include_children:
                    processes += self._process.children(recursive=True)
        except psutil.NoSuchProcess:
            return None
        cpu: dict[tuple[int, float], float] = {}
        rss = 0.0
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    memory = process.memory_info()
                    key = (process.pid, process.create_time())
            except psutil.NoSuchProcess:
                if process is self._process:
                    return None
                continue  # a child that ended in between
            cpu[key] = times.user + times.system
            rss += memory.rss
        return cpu, rss

    def _append(self, wall: float, cpu_pct: float, rss_mb: float) -> None:
        if len(self._t) >= self.max_samples:
            self._halve()
        self._t.append(wall)
        self._cpu.append(cpu_pct)
        self._rss.append(rss_mb)

    def _halve(self) -> None:
        """Merge samples in pairs (the later time and RSS, the mean CPU) and double the interval."""
        pairs = len(self._t) // 2
        t = np.frombuffer(self._t, dtype=np.float64)[: 2 * pairs]
        cpu = np.frombuffer(self._cpu, dtype=np.float64)[: 2 * pairs].reshape(pairs, 2).mean(axis=1)
        rss = np.frombuffer(self._rss, dtype=np.float64)[: 2 * pairs]
        leftover = len(self._t) - 2 * pairs
        tail = [(self._t[-1], self._cpu[-1], self._rss[-1])] if leftover else []
        self._t = array("d", t[1::2].tolist() + [s[0] for s in tail])
        self._cpu = array("d", cpu.tolist() + [s[1] for s in tail])
        self._rss = array("d", rss[1::2].tolist() + [s[2] for s in tail])
        self.interval *= 2
        self._notes.append(
            f"{self.max_samples} samples reached: merged in pairs, interval now {self.interval:g} s"
        )

    def _ended_note(self, exc: psutil.Error) -> str:
        if isinstance(exc, psutil.NoSuchProcess):
            return f"process {self.pid} not found: nothing sampled"
        if isinstance(exc, psutil.AccessDenied):
            return f"no permission to read process {self.pid}: sampling ended"
        return f"sampling of process {self.pid} ended: {type(exc).__name__}: {exc}"
