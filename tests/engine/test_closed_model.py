"""The closed model: virtual users on kept-open connections, timed from the actual send."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sk_loadagent.engine import Outcome, RunOptions, build_profile, run_load
from sk_loadagent.models.plan import TestSpec

Serve = Callable[..., object]


async def test_vus_loop_with_think_time_on_their_own_connections(serve: Serve) -> None:
    server = serve(delay=0.01)
    test = TestSpec.model_validate(
        {"type": "concurrency", "vus": 4, "duration": "1500ms", "thinkTime": "100ms"}
    )
    profile = build_profile(test, base_url=server.url)  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    s = result.samples
    assert result.timed_from == "actual-send"
    np.testing.assert_array_equal(s.latency, s.service)  # no intended start in a closed model
    assert (s.outcome == Outcome.OK).all()
    # Each VU: ~11 ms answer + 100 ms think -> about 13.5 requests in 1.5 s; 4 VUs.
    assert 40 <= len(s) <= 4 * 15
    assert server.connections == 4 + 1  # type: ignore[attr-defined]  # one per VU + the preflight
    starts = np.sort(s.start)
    assert starts[0] < 0.05  # every VU starts at once without a ramp
    assert result.generator.late_starts == 0
    assert result.generator.max_in_flight <= 4


async def test_zero_think_time_keeps_every_vu_busy(serve: Serve) -> None:
    server = serve(delay=0.005)
    test = TestSpec.model_validate({"type": "concurrency", "vus": 3, "duration": "1s"})
    profile = build_profile(test, base_url=server.url)  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    per_vu = len(result.samples) / 3
    assert 80 <= per_vu <= 1 / 0.005 + 1  # back to back, each at least the server's 5 ms
    assert result.generator.max_in_flight == 3


async def test_ramping_vus_start_one_by_one(serve: Serve) -> None:
    server = serve(delay=0.005)
    test = TestSpec.model_validate(
        {
            "type": "custom",
            "executor": "ramping-vus",
            "thinkTime": "50ms",
            "stages": [{"duration": "1s", "target": 4}, {"duration": "500ms", "target": 4}],
        }
    )
    profile = build_profile(test, base_url=server.url)  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    s = result.samples
    assert (s.outcome == Outcome.OK).all()
    first_half = int((s.start < 0.5).sum())
    second_half = int(((s.start >= 0.5) & (s.start < 1.0)).sum())
    assert first_half < second_half  # VU j starts at (j + 1) / 4 s
    assert server.connections == 4 + 1  # type: ignore[attr-defined]
