"""Worker processes: one shared t0, an exactly merged result, and a dead worker reported as an error."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable

import numpy as np
import pytest

from sk_loadagent.engine import Outcome, Progress, RunOptions, build_profile, run_load
from sk_loadagent.errors import LoadAgentError
from sk_loadagent.models.plan import TestSpec

Serve = Callable[..., object]


async def test_two_workers_merge_exactly(serve: Serve) -> None:
    server = serve(delay=0.001, statuses=[200, 200, 200, 503])
    test = TestSpec.model_validate({"type": "load", "rps": 200, "duration": "1500ms", "rampUp": "0s"})
    profile = build_profile(test, base_url=server.url)  # type: ignore[attr-defined]
    seen: list[Progress] = []
    result = await run_load(profile, RunOptions(workers=2), progress=seen.append)
    s = result.samples
    assert result.generator.workers == 2
    assert result.generator.transport == "fast"
    assert len(server.arrivals) == len(s) == 300  # type: ignore[attr-defined]
    np.testing.assert_allclose(s.start, np.arange(300) / 200.0, atol=1e-9)  # interleaved into one schedule
    assert [w.requests for w in result.windows] == [200, 100]
    assert (
        sum(w.outcomes.get(Outcome.HTTP_5XX, 0) for w in result.windows)
        == (s.outcome == Outcome.HTTP_5XX).sum()
    )
    assert sum(w.latency.count for w in result.windows) == 300
    assert result.generator.cpu_seconds > 0
    assert seen
    assert seen[-1].requests == 300
    assert not any("semantic_kernel" in w for w in result.warnings)  # workers load the engine only


async def test_a_worker_that_dies_is_an_error_not_a_hang(serve: Serve) -> None:
    server = serve(delay=0.001)
    test = TestSpec.model_validate({"type": "load", "rps": 50, "duration": "3s", "rampUp": "0s"})
    profile = build_profile(test, base_url=server.url)  # type: ignore[attr-defined]

    def kill_workers(progress: Progress) -> None:
        for child in multiprocessing.active_children():
            if child.name.startswith("sk-loadagent-worker") and child.pid is not None:
                os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(LoadAgentError, match="stopped before finishing"):
        await run_load(profile, RunOptions(workers=2), progress=kill_workers)
