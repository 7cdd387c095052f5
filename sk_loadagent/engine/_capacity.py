"""run_profile: run a test's profile; a stress test's runs its steps, then probes the capacity between them.

The steps stop at the first that breaks (``run_load``); the capacity then lies between the highest rate that
held and the lowest that broke. Each probe is a run of its own at one constant rate, so it starts from a
drained target (a run ends when its answers are in): halfway between the two, held or broken by the same
rules as a step, narrowing the bracket until it is within the rule's precision or the test's duration has
no room for another probe. The probes are appended to ``extra["stress"]`` with ``"probe": true``; the run's
samples, windows and timeline are the steps'.
"""

from __future__ import annotations

from collections.abc import Callable

from sk_loadagent.engine._executors import ConstantArrivalRate
from sk_loadagent.engine._options import Progress, RunOptions
from sk_loadagent.engine._profile import LoadProfile
from sk_loadagent.engine._runner import run_load
from sk_loadagent.engine._stress import bracket, judge_growth, latency_growth, next_probe
from sk_loadagent.engine.result import RunResult

StepRecord = dict[str, object]


async def run_profile(
    profile: LoadProfile, options: RunOptions, progress: Callable[[Progress], None] | None = None
) -> RunResult:
    """Generate the profile's load and measure it (``run_load``); a stress profile with a search budget
    also probes for its capacity after its steps, within that budget."""
    result = await run_load(profile, options, progress)
    rule = profile.stress
    if rule is None:
        return result
    steps = _judged_steps(result)
    if rule.probe_seconds is not None and rule.budget_seconds is not None:
        left = rule.budget_seconds - result.duration
        while left >= rule.probe_seconds - 1e-9:
            found = bracket(steps)
            rate = next_probe(*found, rule.precision) if found is not None else None
            if rate is None:
                break
            number = sum(1 for s in steps if s.get("probe")) + 1
            steps.append(await _probe(profile, rate, rule.probe_seconds, number, options, progress))
            left -= rule.probe_seconds
    result.extra["stress"] = steps
    return result


def _judged_steps(result: RunResult) -> list[StepRecord]:
    """The engine's step records, each also judged by how fast its latency rose (``latency_growth``)."""
    records = result.extra.get("stress")
    if not isinstance(records, list):
        return []
    steps = [p for p in result.phases if p.name.startswith("step-")]
    judged: list[StepRecord] = []
    for record, phase in zip(records, steps, strict=False):
        growth = latency_growth(result.windows, phase.start, phase.end, result.window_seconds)
        judged.append(judge_growth({**record, "seconds": round(phase.end - phase.start, 3)}, growth))
    return judged


async def _probe(
    profile: LoadProfile,
    rate: float,
    seconds: float,
    number: int,
    options: RunOptions,
    progress: Callable[[Progress], None] | None,
) -> StepRecord:
    """Probe ``number``: ``rate`` for ``seconds`` as a one-step stress run, judged like a step."""
    executor = ConstantArrivalRate(rate=rate, duration=seconds, phase=f"step-probe-{number}")
    probe = profile.model_copy(update={"executor": executor})
    result = await run_load(probe, options, progress)
    (record,) = _judged_steps(result) or [_unjudged(rate)]
    return {**record, "probe": True}


def _unjudged(rate: float) -> StepRecord:
    """A probe the engine returned no step record for (its run ended before the step did)."""
    return {
        "rps": rate,
        "achievedRps": 0.0,
        "p95Ms": None,
        "errorRate": 0.0,
        "held": False,
        "reason": "no record",
    }
