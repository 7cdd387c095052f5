"""The stress rules: when a step has broken, and how the capacity is searched for after the steps.

A step breaks on p95 above the SLO, an error rate above the ceiling, or an achieved rate below the share of
the offered one. Timed-out requests count as taking the timeout, and requests still in flight as taking at
least their age, so a step judged broken while answers are outstanding stays broken once they arrive: the
live decision (stop the workers) and the final report agree on these criteria.

The final report adds one criterion the live decision cannot see: the median latency rising through the
step (``latency_growth``), the mark of a queue that grows because the offered rate is above the capacity.
It can only break a step the live decision let pass (the ladder then ran one step further than needed).

After the steps, the capacity lies between the highest rate that held and the lowest that broke; probes
bisect that bracket (``next_probe``) while the test's duration has room for them (``plan_search``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from sk_loadagent.engine._profile import StressRule
from sk_loadagent.engine.result import Window
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.models.durations import format_duration


@dataclass
class StepFacts:
    """One step, merged over workers. ``slow`` are lower bounds (seconds) of requests without a latency."""

    rate: float
    duration: float
    requests: int = 0
    errors: int = 0
    responses: int = 0  # responses that arrived during the step: its achieved throughput
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    slow: list[float] = field(default_factory=list)

    def p95_ms(self) -> float | None:
        merged = LatencyHistogram()
        merged.merge(self.latency)
        merged.add_values(np.asarray(self.slow, dtype=np.float64))
        value = merged.quantile(0.95)
        return None if value is None else value * 1000.0

    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def achieved_rps(self) -> float:
        return self.responses / self.duration if self.duration > 0 else 0.0


def broken_reasons(facts: StepFacts, rule: StressRule) -> list[str]:
    """Why the step broke (empty when it held, as far as the facts go)."""
    reasons = []
    p95 = facts.p95_ms()
    if rule.slo_p95_ms is not None and p95 is not None and p95 > rule.slo_p95_ms:
        reasons.append(f"p95 {p95:.1f} ms > {rule.slo_p95_ms:g} ms")
    rate = facts.error_rate()
    if rate > rule.error_ceiling:
        reasons.append(f"error rate {rate * 100:.1f} % > {rule.error_ceiling * 100:g} %")
    achieved = facts.achieved_rps()
    if achieved < rule.min_achieved_ratio * facts.rate:
        reasons.append(
            f"achieved {achieved:.1f} rps < {rule.min_achieved_ratio * 100:g} % of {facts.rate:g} rps offered"
        )
    return reasons


def step_record(facts: StepFacts, rule: StressRule) -> dict[str, object]:
    """The per-step entry of ``RunResult.extra["stress"]``."""
    reasons = broken_reasons(facts, rule)
    p95 = facts.p95_ms()
    return {
        "rps": facts.rate,
        "achievedRps": round(facts.achieved_rps(), 3),
        "p95Ms": None if p95 is None else round(p95, 3),
        "errorRate": round(facts.error_rate(), 6),
        "held": not reasons,
        "reason": "; ".join(reasons) if reasons else None,
    }


def facts_from(
    rate: float,
    duration: float,
    *,
    requests: int,
    errors: int,
    responses: int,
    latencies: list[LatencyHistogram],
    slow: list[float],
) -> StepFacts:
    facts = StepFacts(rate=rate, duration=duration, requests=requests, errors=errors, responses=responses)
    for histogram in latencies:
        facts.latency.merge(histogram)
    facts.slow = slow
    return facts


# -- the search after the steps ----------------------------------------------------------------------------

MIN_PROBE_S = 5.0
MIN_STEP_S = 1.0
SEARCH_PRECISION = 0.05
MAX_LATENCY_GROWTH = 0.03
MIN_GROWTH_WINDOWS = 3


def latency_growth(
    windows: Sequence[Window], start: float, end: float, window_seconds: float
) -> float | None:
    """How fast the median latency rises through a step: the slope, weighted by requests, of the windows'
    p50 (by intended start) over their mid-times, in seconds of latency per second; None with fewer than
    three whole windows in the step.

    At an offered rate r above a capacity c the queue grows by r − c requests a second and each waits
    queue / c, so the latency rises by (r − c) / c per second: the slope is the overload itself. Below
    capacity it stays flat, so a slope above ``MAX_LATENCY_GROWTH`` (3 %) breaks the step even when p95 is
    still under its SLO and the achieved rate still over 90 % of the offered one.
    """
    inside = [
        w
        for w in windows
        if w.start >= start - 1e-9 and w.start + window_seconds <= end + 1e-9 and w.latency.count > 0
    ]
    if len(inside) < MIN_GROWTH_WINDOWS:
        return None
    t = np.array([w.start + window_seconds / 2 for w in inside])
    p50 = np.array([w.latency.quantile(0.5) or 0.0 for w in inside])
    weight = np.array([w.latency.count for w in inside], dtype=np.float64)
    t_mean = float(np.average(t, weights=weight))
    spread = float(np.sum(weight * (t - t_mean) ** 2))
    if spread <= 0:
        return None
    return float(np.sum(weight * (t - t_mean) * (p50 - np.average(p50, weights=weight))) / spread)


def judge_growth(record: dict[str, object], growth: float | None) -> dict[str, object]:
    """The step record with its latency growth, broken when the queue grew faster than the rule allows."""
    if growth is None:
        return record
    out = {**record, "latencyGrowth": round(growth, 4)}
    if growth > MAX_LATENCY_GROWTH:
        why = (
            f"latency rising {growth * 1000:.0f} ms/s: the queue grows (offered ≈ {growth * 100:.0f} % over "
            "capacity)"
        )
        out["held"] = False
        out["reason"] = "; ".join(str(r) for r in (record.get("reason"), why) if r)
    return out


def probes_needed(start_rps: float, step_rps: float, precision: float = SEARCH_PRECISION) -> int:
    """Bisections that narrow the ladder's widest bracket (relative to its top: the lowest one, start to
    start + step) until its width is within ``precision`` of its top."""
    ratio = step_rps / (precision * (start_rps + step_rps))
    return math.ceil(math.log2(ratio)) if ratio > 1 else 0


@dataclass(frozen=True)
class SearchPlan:
    """How a stress test's duration is split: ``steps`` coarse steps of ``step_seconds`` after ``lead``
    seconds of ramp-up, then up to ``probes`` reserved probes of ``probe_seconds``; ``budget_seconds`` is
    the whole (the test's duration)."""

    step_seconds: float
    probe_seconds: float
    probes: int
    budget_seconds: float


def plan_search(
    steps: int,
    probes: int,
    *,
    lead: float,
    step_seconds: float | None,
    duration: float | None,
    default_step_seconds: float,
) -> SearchPlan:
    """Split the test's duration between the coarse steps and the probes that follow them.

    - No ``duration``: steps of ``step_seconds`` (default ``default_step_seconds``), probes as long as a
      step but at least 5 s, and the duration is ramp-up + steps + probes.
    - ``duration`` and ``step_seconds``: the same, and the duration must hold it all.
    - ``duration`` alone: steps and probes share what the ramp-up leaves, equally, while a probe still lasts
      5 s; below that, probes keep 5 s and the steps share the rest (each at least 1 s).

    Raises ValueError naming the duration needed when it cannot hold the steps and the probes.
    """
    if duration is None or step_seconds is not None:
        step = step_seconds if step_seconds is not None else default_step_seconds
        probe = max(MIN_PROBE_S, step)
        needed = lead + steps * step + probes * probe
        if duration is not None and duration < needed - 1e-9:
            raise ValueError(_too_short(needed, steps, step, probes, probe, lead))
        return SearchPlan(step, probe, probes, duration if duration is not None else needed)
    shared = (duration - lead) / (steps + probes)
    if shared >= MIN_PROBE_S:
        return SearchPlan(round(shared, 3), round(shared, 3), probes, duration)
    step = (duration - lead - probes * MIN_PROBE_S) / steps
    if step < MIN_STEP_S - 1e-9:
        needed = lead + steps * MIN_STEP_S + probes * MIN_PROBE_S
        raise ValueError(_too_short(needed, steps, MIN_STEP_S, probes, MIN_PROBE_S, lead))
    return SearchPlan(round(step, 3), MIN_PROBE_S, probes, duration)


def _too_short(needed: float, steps: int, step: float, probes: int, probe: float, lead: float) -> str:
    ramp = f"{format_duration(lead)} of ramp-up, " if lead > 0 else ""
    return (
        f"a duration of at least {format_duration(round(needed, 3))} ({ramp}{steps} steps of "
        f"{format_duration(step)} and {probes} probes of {format_duration(probe)} to find the capacity)"
    )


def next_probe(held_below: float, broke_at: float, precision: float) -> float | None:
    """The rate to probe next, halfway between the highest rate that held and the lowest that broke, or
    None once they are within ``precision`` of the latter."""
    if broke_at - held_below <= precision * broke_at:
        return None
    return round((held_below + broke_at) / 2, 3)


def bracket(records: Sequence[Mapping[str, object]]) -> tuple[float, float] | None:
    """(highest rate that held below the lowest that broke, that lowest broken rate); the held side is 0
    when nothing held below it. None when no step broke."""
    broken = [float(str(r["rps"])) for r in records if r.get("held") is False]
    if not broken:
        return None
    top = min(broken)
    held = [float(str(r["rps"])) for r in records if r.get("held") is True and float(str(r["rps"])) < top]
    return max(held, default=0.0), top
