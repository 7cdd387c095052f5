"""The open model against a real local server: exact schedule, timing from the intended start, late starts,
drops, timeouts and the hard end of a run."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from sk_loadagent.engine import LoadProfile, Outcome, RunOptions, RunResult, build_profile, run_load
from sk_loadagent.models.plan import TestSpec

Serve = Callable[..., object]


def load(url: str, **fields: object) -> LoadProfile:
    spec = {"type": "load", "rampUp": "0s", **fields}
    return build_profile(TestSpec.model_validate(spec), base_url=url)


def nearest_rank(values: np.ndarray, q: float) -> float:
    ordered = np.sort(values)
    return float(ordered[max(0, math.ceil(q * ordered.size) - 1)])


async def test_requests_sent_equal_the_integral_of_the_rate_and_start_on_schedule(serve: Serve) -> None:
    server = serve(delay=0.001)
    test = TestSpec.model_validate(
        {"type": "custom", "stages": [{"duration": "1s", "target": 100}, {"duration": "1s", "target": 100}]}
    )
    profile = build_profile(test, base_url=server.url)  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    assert len(server.arrivals) == 150  # type: ignore[attr-defined]  # 0→100 over 1 s (50) + 100 for 1 s
    assert len(result.samples) == 150
    assert result.complete
    expected = np.concatenate([np.sqrt(np.arange(50) / 50.0), 1.0 + np.arange(100) / 100.0])
    np.testing.assert_allclose(result.samples.start, expected, atol=1e-9)
    assert [w.requests for w in result.windows] == [50, 100]
    assert sum(w.outcomes.get(Outcome.OK, 0) for w in result.windows) == 150
    assert result.generator.requests == 150
    assert result.generator.dropped == 0
    assert result.timed_from == "intended-start"
    assert result.duration == 2.0


async def test_latency_counts_from_the_intended_start_through_a_freeze(serve: Serve) -> None:
    # Answers stall during [0.3, 0.8) of every second; few connections, so the generator itself must queue.
    server = serve(delay=0.001, freeze=(1.0, 0.3, 0.5))
    profile = load(server.url, rps=200, duration="2s", maxConnections=8)  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    s = result.samples
    assert len(s) == 400
    assert (s.outcome == Outcome.OK).all()
    # Closed-form truth: every request intended at t is answered when the server's schedule allows.
    offset = result.started_at - server.started_wall  # type: ignore[attr-defined]
    intended = s.start + offset
    truth = np.array([server.due_after_start(t) - t for t in intended])  # type: ignore[attr-defined]
    for q in (0.9, 0.99):
        measured, expected = nearest_rank(s.latency, q), nearest_rank(truth, q)
        assert measured == pytest.approx(expected, rel=0.03, abs=0.004), q
    # What a closed-model tool would report (from the actual send) misses most of the stall.
    assert nearest_rank(s.service, 0.9) < 0.5 * nearest_rank(s.latency, 0.9)
    late = (s.latency - s.service) > 0.005
    assert result.generator.late_starts == int(late.sum()) > 0
    assert any("started more than 5 ms" in w for w in result.warnings)


async def test_too_few_connections_make_late_starts_not_lost_requests(serve: Serve) -> None:
    server = serve(delay=0.02)
    profile = load(server.url, rps=100, duration="1s", maxConnections=1)  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    s = result.samples
    assert len(s) == 100
    assert (s.outcome == Outcome.OK).all()
    late = (s.latency - s.service) > 0.005
    assert result.generator.late_starts == int(late.sum()) >= 40  # capacity 50 rps for 100 rps
    assert result.generator.connections_opened == 1
    assert result.generator.max_in_flight == 1
    assert nearest_rank(s.latency, 0.99) > 0.4  # the backlog shows, timed from the intended starts


async def test_dropped_when_the_queue_is_full_or_still_queued_at_the_end(serve: Serve) -> None:
    server = serve(mode="never")
    profile = load(server.url, rps=400, duration="1s", maxConnections=1, timeout="300ms")  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    sent = len(result.samples)
    assert sent + result.generator.dropped == 400
    assert result.generator.dropped > 250  # the queue holds max(100, 400 rps x 0.3 s) = 120
    assert (result.samples.outcome == Outcome.TIMEOUT).all()
    assert any("never sent" in w for w in result.warnings)


async def test_timeouts_end_requests_and_replace_connections(serve: Serve) -> None:
    server = serve(mode="never")
    profile = load(server.url, rps=20, duration="1s", timeout="200ms")  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    s = result.samples
    assert len(s) == 20
    assert (s.outcome == Outcome.TIMEOUT).all()
    assert np.isnan(s.latency).all()
    assert result.generator.connections_opened >= 10  # each timed-out connection was closed, not reused


async def test_requests_in_flight_at_the_end_get_their_full_timeout_and_no_more(serve: Serve) -> None:
    server = serve(mode="never")
    profile = load(server.url, rps=20, duration="1s", timeout="500ms")  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    assert len(result.samples) == 20
    assert (result.samples.outcome == Outcome.TIMEOUT).all()
    # The last request (intended at 0.95 s) was ended by its own timeout, not cut at a fixed grace.
    assert not any("still unanswered" in w for w in result.warnings)


def count(result: RunResult, outcome: Outcome) -> int:
    return int((result.samples.outcome == outcome).sum())


async def test_slow_drip_runs_into_the_timeout(serve: Serve) -> None:
    server = serve(mode="drip", drip=0.05, body=b"x" * 100)
    profile = load(server.url, rps=10, duration="500ms", timeout="300ms")  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    assert count(result, Outcome.TIMEOUT) == len(result.samples) == 5
    assert result.samples.bytes_in.min() > 0  # a few bytes had arrived when the timeout hit
