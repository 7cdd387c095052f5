"""The stress stop rule and the capacity search after it, as pure rules and against a server with a known
capacity."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from sk_loadagent.engine import RunOptions, StressRule, Window, build_profile, run_load, run_profile
from sk_loadagent.engine._stress import (
    SearchPlan,
    StepFacts,
    bracket,
    broken_reasons,
    judge_growth,
    latency_growth,
    next_probe,
    plan_search,
    probes_needed,
)
from sk_loadagent.errors import InputError
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.models.caps import Caps
from sk_loadagent.models.plan import TestSpec

Serve = Callable[..., object]


def facts(latencies: list[float], *, requests: int = 100, errors: int = 0, responses: int = 100) -> StepFacts:
    return StepFacts(
        rate=100.0,
        duration=1.0,
        requests=requests,
        errors=errors,
        responses=responses,
        latency=LatencyHistogram.from_values(np.asarray(latencies)),
    )


def test_each_criterion_breaks_a_step() -> None:
    rule = StressRule(slo_p95_ms=100, error_ceiling=0.05)
    assert broken_reasons(facts([0.01] * 100), rule) == []
    assert broken_reasons(facts([0.01] * 90 + [0.5] * 10), rule) == ["p95 500.0 ms > 100 ms"]
    assert broken_reasons(facts([0.01] * 100, errors=6), rule) == ["error rate 6.0 % > 5 %"]
    assert broken_reasons(facts([0.01] * 100, responses=80), rule) == [
        "achieved 80.0 rps < 90 % of 100 rps offered"
    ]
    assert broken_reasons(facts([0.5] * 100), StressRule()) == []  # no SLO: latency alone never breaks


def test_unfinished_requests_count_at_least_their_age() -> None:
    rule = StressRule(slo_p95_ms=100)
    step = facts([0.01] * 90)
    step.slow = [0.3] * 10  # still in flight after 300 ms: whatever they end as, p95 is already over
    (reason,) = broken_reasons(step, rule)
    assert reason.startswith("p95 29")  # 300 ms within the histogram's 1 %
    assert reason.endswith(" ms > 100 ms")


async def test_stops_at_the_first_step_above_capacity(serve: Serve) -> None:
    # Two requests at a time, 20 ms each: about 95 rps (server timers add ~1 ms).
    server = serve(delay=0.02, capacity=2)
    test = TestSpec.model_validate(
        {"type": "stress", "startRps": 25, "stepRps": 50, "maxRps": 175, "stepDuration": "1s"}
    )
    profile = build_profile(test, base_url=server.url, slo_p95_ms=150)  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    steps = result.extra["stress"]
    assert isinstance(steps, list)
    assert [(s["rps"], s["held"]) for s in steps] == [(25, True), (75, True), (125, False)]
    broken = steps[-1]
    assert "achieved" in str(broken["reason"]) or "p95" in str(broken["reason"])
    assert steps[1]["achievedRps"] > 70
    assert steps[1]["errorRate"] == 0.0
    # The fourth step never ran (or was cut short): the parent stopped every worker.
    assert [p.name for p in result.phases if p.measured] == ["step-1", "step-2", "step-3"]
    assert result.duration < 3.5
    assert result.samples.start.max() < 3.5


# -- issue 8: the search for the capacity after the steps --------------------------------------------------


def test_the_duration_is_split_between_the_steps_and_the_probes() -> None:
    # The plan: rps 400 → steps of 100 from 100 to 800 (8 steps); the lowest bracket, 100–200,
    # needs 4 halvings to be within 5 % of its top: 4 probes are reserved.
    assert probes_needed(100, 100) == 4
    assert probes_needed(160, 40) == 2  # 40 → 20 → 10, within 5 % of 200
    assert probes_needed(200, 5) == 0  # the steps alone are that fine

    def split(step: float | None, duration: float | None, lead: float = 0.0) -> SearchPlan:
        return plan_search(8, 4, lead=lead, step_seconds=step, duration=duration, default_step_seconds=10)

    # No duration: 10 s steps, probes as long as a step, the duration is the sum.
    assert split(None, None) == SearchPlan(10, 10, 4, 120)
    # Short steps: probes still last 5 s.
    assert split(2, None) == SearchPlan(2, 5, 4, 36)
    # A duration alone: steps and probes share it, probes at least 5 s, steps at least 1 s.
    assert split(None, 120) == SearchPlan(10, 10, 4, 120)
    assert split(None, 36) == SearchPlan(2, 5, 4, 36)
    with pytest.raises(ValueError, match="at least") as err:
        split(None, 20, lead=2.0)
    assert str(err.value) == (
        "a duration of at least 30s (2s of ramp-up, 8 steps of 1s and 4 probes of 5s to find the capacity)"
    )


def test_a_stress_duration_too_short_for_its_steps_and_probes_is_refused() -> None:
    test = TestSpec.model_validate({"type": "stress", "rps": 400, "stepDuration": "10s", "duration": "1m"})
    with pytest.raises(InputError) as err:
        build_profile(test, base_url="http://127.0.0.1:9")
    assert str(err.value) == (
        "test 'stress': duration: expected a duration of at least 2m (8 steps of 10s and 4 probes of 10s to "
        "find the capacity), got 1m"
    )
    fitted = build_profile(test.model_copy(update={"duration": 120.0}), base_url="http://127.0.0.1:9")
    assert fitted.stress is not None
    assert (fitted.stress.probe_seconds, fitted.stress.budget_seconds) == (10, 120)


def _windows(p50s_ms: list[float], per_window: int = 100) -> list[Window]:
    out = []
    for i, p50 in enumerate(p50s_ms):
        window = Window(start=float(i))
        window.latency.add_values(np.full(per_window, p50 / 1000.0))
        out.append(window)
    return out


def test_latency_rising_through_a_step_breaks_it_even_under_the_slo() -> None:
    flat = latency_growth(_windows([5, 6, 5, 5, 6]), 0.0, 5.0, 1.0)
    assert flat is not None
    assert abs(flat) < 0.001
    # 50 ms more every second: a queue growing at 5 % of the capacity (an offered rate 5 % too high).
    rising = latency_growth(_windows([5, 55, 105, 155, 205]), 0.0, 5.0, 1.0)
    assert rising == pytest.approx(0.05, rel=0.02)
    assert latency_growth(_windows([5, 55]), 0.0, 2.0, 1.0) is None  # too few windows to tell
    held = {"rps": 200.0, "held": True, "reason": None}
    assert judge_growth(held, flat)["held"] is True
    broken = judge_growth(held, rising)
    assert broken["held"] is False
    assert broken["reason"] == "latency rising 50 ms/s: the queue grows (offered ≈ 5 % over capacity)"


def test_probes_bisect_between_the_highest_rate_that_held_and_the_lowest_that_broke() -> None:
    steps = [{"rps": 100.0, "held": True}, {"rps": 200.0, "held": False}]
    assert bracket(steps) == (100.0, 200.0)
    assert next_probe(100.0, 200.0, 0.05) == 150.0
    assert bracket([*steps, {"rps": 150.0, "held": True}, {"rps": 175.0, "held": False}]) == (150.0, 175.0)
    assert next_probe(190.0, 200.0, 0.05) is None  # within 5 % of 200
    assert bracket([{"rps": 100.0, "held": False}]) == (0.0, 100.0)  # nothing held: down from 0
    assert bracket([{"rps": 100.0, "held": True}]) is None  # nothing broke: nothing to search


async def test_run_profile_probes_the_capacity_within_the_test_duration(serve: Serve) -> None:
    # One request at a time, 20 ms each: about 48 rps. Steps of 1 s at 30 and 60 rps, then the duration
    # (8 s) leaves room for one 5 s probe: halfway, 45 rps, which holds.
    server = serve(delay=0.02, capacity=1)
    test = TestSpec.model_validate(
        {"type": "stress", "startRps": 30, "stepRps": 30, "maxRps": 90, "stepDuration": "1s", "timeout": "3s"}
    )
    profile = build_profile(test, base_url=server.url, slo_p95_ms=500)  # type: ignore[attr-defined]
    assert profile.stress is not None
    rule = profile.stress.model_copy(update={"budget_seconds": 8.0})
    result = await run_profile(profile.model_copy(update={"stress": rule}), RunOptions(workers=0))
    steps = result.extra["stress"]
    assert isinstance(steps, list)
    assert [(s["rps"], s["held"], s.get("probe")) for s in steps] == [
        (30, True, None),
        (60, False, None),
        (45.0, True, True),
    ]
    assert steps[2]["seconds"] == 5.0
    assert 40 < steps[2]["achievedRps"] <= 46
    # The run's own figures stay those of the steps.
    assert [p.name for p in result.phases if p.measured] == ["step-1", "step-2"]


def test_the_duration_cap_counts_the_probes_of_a_stress_test() -> None:
    # 8 steps of 3 h are 24 h, within the default cap; the 4 probes reserved after them make 36 h.
    test = TestSpec.model_validate({"type": "stress", "rps": 400, "stepDuration": "3h"})
    with pytest.raises(InputError) as refused:
        build_profile(test, base_url="http://127.0.0.1:9", caps=Caps(memory=None, connections=None))
    assert str(refused.value) == (
        "test 'stress': stepDuration: expected a schedule of at most 24h (the duration cap: the default, so "
        "that a typo cannot hold a CI job for days; --cap duration=DURATION changes it), got 36h"
    )
