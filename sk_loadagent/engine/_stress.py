"""The stress stop rule: a step breaks on p95 above the SLO, an error rate above the ceiling, or an achieved
rate below the share of the offered one.

Timed-out requests count as taking the timeout, and requests still in flight as taking at least their age,
so a step judged broken while answers are outstanding stays broken once they arrive: the live decision (stop
the workers) and the final report (from the complete data) always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sk_loadagent.engine._profile import StressRule
from sk_loadagent.histogram import LatencyHistogram


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
