"""The mock transport (for users' own tests), the sample budget, progress and result extras."""

from __future__ import annotations

import pytest

from sk_loadagent.engine import (
    MockReply,
    MockTransport,
    Outcome,
    Progress,
    RunOptions,
    build_profile,
    run_load,
)
from sk_loadagent.errors import TargetUnreachableError
from sk_loadagent.models.plan import TestSpec

URL = "http://127.0.0.1:9"  # never contacted: the mock answers


def load(**fields: object) -> object:
    spec = {"type": "load", "rampUp": "0s", "rps": 200, "duration": "1s", **fields}
    return build_profile(TestSpec.model_validate(spec), base_url=URL)


async def test_scripted_replies_are_recorded_like_real_ones() -> None:
    script = [
        MockReply(latency=0.004),
        MockReply(status=503, latency=0.002),
        MockReply(failure=Outcome.RESET),
    ]
    result = await run_load(load(), RunOptions(workers=0, transport=MockTransport(script)))  # type: ignore[arg-type]
    s = result.samples
    assert len(s) == 200
    assert result.generator.transport == "mock"
    counts = {Outcome(o).name: int((s.outcome == o).sum()) for o in set(s.outcome.tolist())}
    assert counts == {"OK": 67, "HTTP_5XX": 67, "RESET": 66}
    ok = s.latency[s.outcome == Outcome.OK]
    assert 0.004 <= float(ok.min()) < 0.05


async def test_a_mock_that_never_answers_times_out() -> None:
    profile = load(rps=10, duration="500ms", timeout="100ms")
    transport = MockTransport(MockReply(failure=Outcome.TIMEOUT))
    result = await run_load(profile, RunOptions(workers=0, transport=transport))  # type: ignore[arg-type]
    assert (result.samples.outcome == Outcome.TIMEOUT).all()
    assert len(result.samples) == 5


async def test_over_the_sample_budget_only_windows_are_kept_and_stay_exact() -> None:
    transport = MockTransport(MockReply(latency=0.002))
    full = await run_load(load(), RunOptions(workers=0, transport=transport, sample_budget=10_000))  # type: ignore[arg-type]
    capped = await run_load(load(), RunOptions(workers=0, transport=transport, sample_budget=100))  # type: ignore[arg-type]
    assert full.complete
    assert len(full.samples) == 200
    assert not capped.complete
    assert len(capped.samples) == 0
    assert capped.sample_budget == 100
    assert [w.requests for w in capped.windows] == [w.requests for w in full.windows] == [200]
    assert capped.windows[0].latency.count == 200
    assert capped.windows[0].outcomes == {int(Outcome.OK): 200}
    assert capped.generator.requests == 200


async def test_progress_reports_merged_snapshots() -> None:
    seen: list[Progress] = []
    transport = MockTransport(MockReply(latency=0.003))
    await run_load(
        load(duration="2s"),  # type: ignore[arg-type]
        RunOptions(workers=0, transport=transport, progress_interval=0.5),
        progress=seen.append,
    )
    assert len(seen) >= 4
    first = seen[0]
    assert first.phase == "steady"
    assert first.elapsed == 0.5
    assert first.remaining == 1.5
    assert first.rps == pytest.approx(200, rel=0.2)
    assert first.p95_ms is not None
    assert 3.0 <= first.p95_ms < 30
    assert seen[-1].requests == 400
    assert seen[-1].errors == 0


async def test_soak_passes_its_window_and_the_profile_text_through() -> None:
    test = TestSpec.model_validate(
        {"type": "soak", "rps": 50, "duration": "1s", "rampUp": "0s", "window": "250ms"}
    )
    profile = build_profile(test, base_url=URL)
    result = await run_load(profile, RunOptions(workers=0, transport=MockTransport()))
    assert result.extra["window"] == 0.25
    assert result.extra["testType"] == "soak"
    assert result.extra["profile"] == profile.describe()


async def test_nothing_but_connect_failures_means_unreachable() -> None:
    transport = MockTransport(MockReply(failure=Outcome.CONNECT_REFUSED))
    with pytest.raises(TargetUnreachableError, match="no request got a response; all 200 attempts failed"):
        await run_load(load(), RunOptions(workers=0, transport=transport))  # type: ignore[arg-type]


async def test_connect_errors_mixed_with_answers_are_just_errors() -> None:
    transport = MockTransport([MockReply(), MockReply(failure=Outcome.CONNECT_ERROR)])
    result = await run_load(load(), RunOptions(workers=0, transport=transport))  # type: ignore[arg-type]
    assert int((result.samples.outcome == Outcome.CONNECT_ERROR).sum()) == 100
