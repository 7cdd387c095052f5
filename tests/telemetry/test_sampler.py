"""ProcessSampler against real child processes that burn CPU, allocate memory and exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import numpy as np
import pytest

from sk_loadagent.telemetry import ProcessSampler, ResourceSamples, cpu_quota_cores

# Each child is bounded in time and ends by itself.
BURN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"
# Burns a fixed amount of CPU time once told to go (a line on stdin), then idles: the sampler's CPU
# integral must equal that amount however busy the machine is.
BURN_CPU = textwrap.dedent(
    """
    import sys, time
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.process_time()
    while time.process_time() - start < {cpu_seconds}:
        pass
    print("done", flush=True)
    time.sleep(10)
    """
)
ALLOCATE = textwrap.dedent(
    """
    import sys, time
    print("ready", flush=True)
    sys.stdin.readline()
    held = []
    for _ in range(20):
        held.append(b"x" * 4_000_000)  # written bytes: resident at once
        time.sleep(0.05)
    print("done", flush=True)
    time.sleep(10)
    """
)
PARENT_OF_BURNER = textwrap.dedent(
    """
    import subprocess, sys
    subprocess.run([sys.executable, "-c", {burn!r}], check=True)
    """
)


def spawn(code: str) -> subprocess.Popen[bytes]:
    """A child in a process group of its own, so that it and its descendants can be killed together."""
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
    )


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    spawned: list[subprocess.Popen[bytes]] = []
    yield spawned
    for child in spawned:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()


def wait_until_stopped(sampler: ProcessSampler, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sampler.running:
        assert time.monotonic() < deadline, "the sampler did not stop by itself"
        time.sleep(0.02)


def cpu_seconds(samples: ResourceSamples, interval: float) -> float:
    """The CPU time the samples account for: each percentage times the interval it covers."""
    spans = np.diff(samples.t, prepend=samples.t[0] - interval)
    return float(np.sum(samples.cpu_pct / 100 * spans))


def run_while_sampled(child: subprocess.Popen[bytes], *samplers: ProcessSampler) -> None:
    """Start the samplers once the child is ready, let it work, stop them once it is done."""
    assert child.stdin is not None
    assert child.stdout is not None
    assert child.stdout.readline() == b"ready\n"
    for sampler in samplers:
        sampler.start()
    child.stdin.write(b"go\n")
    child.stdin.flush()
    assert child.stdout.readline() == b"done\n"
    time.sleep(0.3)
    for sampler in samplers:
        sampler.stop()


def test_accounts_for_the_cpu_time_a_process_burns(children: list[subprocess.Popen[bytes]]) -> None:
    child = spawn(BURN_CPU.format(cpu_seconds=0.6))
    children.append(child)
    sampler = ProcessSampler(child.pid, interval=0.1)
    run_while_sampled(child, sampler)
    samples = sampler.result
    assert samples.pid == child.pid
    assert len(samples) >= 8
    # 0.6 s burned plus a little for the handshake, to the kernel's 10 ms tick per sample
    assert 0.55 <= cpu_seconds(samples, 0.1) <= 0.75
    assert samples.cpu_pct.max() <= 130  # one thread: one core, give or take a tick per 100 ms
    assert np.all(np.diff(samples.t) > 0)
    assert abs(samples.t[0] - time.time()) < 5  # wall-clock, like RunResult.started_at


def test_sees_resident_memory_grow(children: list[subprocess.Popen[bytes]]) -> None:
    child = spawn(ALLOCATE)
    children.append(child)
    sampler = ProcessSampler(child.pid, interval=0.05)
    run_while_sampled(child, sampler)
    samples = sampler.result
    grown = samples.rss_mb[-1] - samples.rss_mb[0]
    # 20 x 4 MB = 76.3 MiB; on a busy machine the first sample can land after an allocation or two
    assert 60 < grown < 85, grown
    slope = np.polyfit(samples.t - samples.t[0], samples.rss_mb, 1)[0]
    assert slope > 20  # MiB per second


def test_counts_the_children_only_when_asked(children: list[subprocess.Popen[bytes]]) -> None:
    parent = spawn(PARENT_OF_BURNER.format(burn=BURN_CPU.format(cpu_seconds=0.5)))
    children.append(parent)
    with_children = ProcessSampler(parent.pid, interval=0.1)
    alone = ProcessSampler(parent.pid, interval=0.1, include_children=False)
    run_while_sampled(parent, with_children, alone)  # the child inherits the parent's stdin and stdout
    assert 0.45 <= cpu_seconds(with_children.result, 0.1) <= 0.65
    assert cpu_seconds(alone.result, 0.1) < 0.1


def test_stops_by_itself_when_the_process_exits(children: list[subprocess.Popen[bytes]]) -> None:
    child = spawn(BURN.format(seconds=0.4))
    children.append(child)
    sampler = ProcessSampler(child.pid, interval=0.05)
    sampler.start()
    wait_until_stopped(sampler)  # the child is a zombie until we reap it: that counts as exited
    samples = sampler.stop()
    assert len(samples) >= 3
    assert samples.notes == [f"process {child.pid} exited; sampling ended after {len(samples)} samples"]
    assert sampler.stop() is samples  # idempotent


def test_a_process_that_is_gone_gives_no_samples_and_a_note() -> None:
    gone_pid = 2**22 + 12345  # above the kernel's largest pid_max: never a live process
    sampler = ProcessSampler(gone_pid, cpu_quota_cores=2)
    sampler.start()
    assert not sampler.running
    samples = sampler.stop()
    assert len(samples) == 0
    assert samples.notes == [f"process {gone_pid} not found: nothing sampled"]


def test_memory_stays_bounded_by_merging_samples_in_pairs() -> None:
    sampler = ProcessSampler(os.getpid(), interval=0.01, max_samples=8)
    sampler.start()
    time.sleep(0.4)
    samples = sampler.stop()
    assert 4 <= len(samples) <= 8
    assert np.all(np.diff(samples.t) > 0)
    assert samples.notes[0] == "8 samples reached: merged in pairs, interval now 0.02 s"
    assert sampler.interval >= 0.02


async def test_async_context_manager() -> None:
    async with ProcessSampler(os.getpid(), interval=0.05, cpu_quota_cores=1.5) as sampler:
        await asyncio.sleep(0.3)
    samples = sampler.result
    assert isinstance(samples, ResourceSamples)
    assert len(samples) >= 3
    assert samples.cpu_quota_cores == 1.5
    assert samples.rss_mb.min() > 10  # this interpreter with numpy loaded


def test_default_cpu_quota_is_the_cgroup_limit_or_the_machine() -> None:
    sampler = ProcessSampler(os.getpid())
    assert sampler.cpu_quota_cores == cpu_quota_cores(os.getpid())
    assert 0 < sampler.cpu_quota_cores <= (os.cpu_count() or 1)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="interval must be > 0 seconds, got 0"):
        ProcessSampler(os.getpid(), interval=0)
    with pytest.raises(RuntimeError, match="never started"):
        ProcessSampler(os.getpid()).stop()
    sampler = ProcessSampler(os.getpid())
    sampler.start()
    with pytest.raises(RuntimeError, match="started once"):
        sampler.start()
    with pytest.raises(RuntimeError, match="not been stopped"):
        _ = sampler.result
    sampler.stop()


def test_between_keeps_the_window_and_the_notes() -> None:
    samples = ResourceSamples(
        pid=1,
        t=np.array([1.0, 2.0, 3.0, 4.0]),
        cpu_pct=np.array([10.0, 20.0, 30.0, 40.0]),
        rss_mb=np.array([5.0, 6.0, 7.0, 8.0]),
        cpu_quota_cores=2.0,
        notes=["process 1 exited"],
    )
    window = samples.between(2.0, 3.0)
    assert window.cpu_pct.tolist() == [20.0, 30.0]
    assert window.notes == ["process 1 exited"]
