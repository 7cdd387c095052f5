"""The run's bound is true: requests in flight at the end get their full timeout, a target that never answers
ends within ``run_bound``, and a worker that dies or hangs fails the run (exit 4) instead of shortening it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import psutil
import pytest

from sk_loadagent.engine import LoadProfile, Outcome, Progress, RunOptions, build_profile, run_bound, run_load
from sk_loadagent.engine import _runner as runner
from sk_loadagent.errors import WorkerFailedError
from sk_loadagent.models.plan import TestSpec

Serve = Callable[..., object]


def load(url: str, **fields: object) -> LoadProfile:
    spec = {"type": "load", "rampUp": "0s", **fields}
    return build_profile(TestSpec.model_validate(spec), base_url=url)


def spawned_workers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]


@pytest.fixture
def once() -> Callable[[Callable[[], None]], Callable[[Progress], None]]:
    """A progress callback that runs ``action`` on the first progress report only."""

    def wrap(action: Callable[[], None]) -> Callable[[Progress], None]:
        done: list[bool] = []

        def report(_: Progress) -> None:
            if not done:
                done.append(True)
                action()

        return report

    return wrap


def test_the_bound_adds_start_up_in_flight_timeout_and_shutdown_to_the_schedule() -> None:
    profile = load("http://127.0.0.1:9", rps=5, duration="20s", timeout="3s")
    bound = run_bound(profile)
    assert (bound.startup, bound.schedule, bound.in_flight, bound.shutdown) == (33.25, 20.0, 3.1, 19.0)
    assert bound.total == pytest.approx(75.35)
    assert run_bound(load("http://127.0.0.1:9", rps=5, duration="20s")).total == pytest.approx(84.35)  # 10 s


async def test_a_target_that_never_answers_ends_within_the_bound_after_the_full_timeout(serve: Serve) -> None:
    server = serve(mode="never")
    profile = load(server.url, rps=5, duration="1s", timeout="1s")  # type: ignore[attr-defined]
    begun = time.monotonic()
    result = await run_load(profile, RunOptions(workers=1))
    took = time.monotonic() - begun
    assert len(result.samples) == 5
    assert (result.samples.outcome == Outcome.TIMEOUT).all()
    assert not any("still unanswered" in w for w in result.warnings)  # each ended by its own timeout
    assert 0.8 + 1.0 <= took <= run_bound(profile).total  # the last request (at 0.8 s) had its full second


async def test_answers_slower_than_the_old_fixed_grace_still_count_when_within_the_timeout(
    serve: Serve,
) -> None:
    # The engine used to wait a fixed 5 s after the schedule: these 5.5 s answers were "timeouts".
    server = serve(delay=5.5)
    profile = load(server.url, rps=4, duration="1s", timeout="7s")  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    assert len(result.samples) == 4
    assert (result.samples.outcome == Outcome.OK).all()
    assert float(result.samples.latency.min()) >= 5.5


async def test_a_hung_worker_fails_the_run_within_its_bound(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, once: Callable[..., Callable[[Progress], None]]
) -> None:
    monkeypatch.setattr(runner, "REPORT_TIMEOUT", 0.5)  # so the test waits half a second, not ten
    server = serve()
    profile = load(server.url, rps=20, duration="1s", timeout="500ms")  # type: ignore[attr-defined]
    options = RunOptions(workers=1, progress_interval=0.2)

    def freeze() -> None:
        for worker in spawned_workers():
            worker.send_signal(signal.SIGSTOP)

    begun = time.monotonic()
    with pytest.raises(WorkerFailedError) as failed:
        await run_load(profile, options, progress=once(freeze))
    assert time.monotonic() - begun <= run_bound(profile).total
    assert str(failed.value) == (
        "load workers [0] hung: no result 0.5s after the schedule (1s) and the request timeout (0.5s) had "
        "passed"
    )
    assert failed.value.exit_code == 4
    assert not spawned_workers()  # stopped (SIGKILL reaches a frozen process)


async def test_a_worker_that_dies_fails_the_run(
    serve: Serve, once: Callable[..., Callable[[Progress], None]]
) -> None:
    server = serve()
    profile = load(server.url, rps=20, duration="3s")  # type: ignore[attr-defined]

    def kill() -> None:
        for worker in spawned_workers():
            os.kill(worker.pid, signal.SIGKILL)

    with pytest.raises(WorkerFailedError) as failed:
        await run_load(profile, RunOptions(workers=1, progress_interval=0.2), progress=once(kill))
    assert str(failed.value) == (
        "load worker 0 stopped before finishing (it exited with code -9); its share of the load is missing, "
        "so the run has no valid result"
    )


async def test_workers_ignore_ctrl_c_and_leave_the_stop_to_the_parent(
    serve: Serve, once: Callable[..., Callable[[Progress], None]]
) -> None:
    server = serve()
    profile = load(server.url, rps=20, duration="1s")  # type: ignore[attr-defined]

    def interrupt() -> None:
        for worker in spawned_workers():
            worker.send_signal(signal.SIGINT)

    result = await run_load(profile, RunOptions(workers=1, progress_interval=0.2), progress=once(interrupt))
    assert len(result.samples) == 20
    assert (result.samples.outcome == Outcome.OK).all()
