"""The stress stop rule, as a pure rule and against a server with a known capacity."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sk_loadagent.engine import RunOptions, StressRule, build_profile, run_load
from sk_loadagent.engine._stress import StepFacts, broken_reasons
from sk_loadagent.histogram import LatencyHistogram
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
