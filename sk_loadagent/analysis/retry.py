"""Whether a run should be retried, how, and why (spec cycle 18). The planner drives the loop.

Triggers, first match wins: an infrastructure anomaly (it explains any other symptom, so it is fixed
first), status fail, score < 0.5, degraded with a flakiness pattern in history, and ``retryOnFail`` for a
degraded run. Strategy per trigger:

- cold start → warm-start (a 10 s warm-up, no cool-down: the point is a warm service);
- generator saturation → throttled (rps × 0.6, so the generator is not the bottleneck);
- target CPU spike or another anomaly → standard after a 60 s cool-down;
- a spike test failing by less than 15 % → throttled (cycle 8);
- any other fail, or score < 0.5 → staged (a quarter of the duration, at least 15 s, never longer than
  the test: reproduce before failing);
- degraded and known flaky → memory-guided (same parameters after a 60 s cool-down);
- retryOnFail → standard; a second standard attempt becomes throttled.

A throttled retry scales the test's planned schedule: ``loadFactor`` multiplies every planned rate (as
``suite.execution_plan.apply_adjustments`` applies it, always to the plan) and ``rps`` reports the peak rate
that will run. A throttle after a throttle runs at 0.6 of the plan again, not 0.36: cycle 18 bounds the
reduction at 30–50 %, so a second throttle checks whether the throttled run is stable.

A Studio reviewer's ``retryWith`` (cycle 18, human-aware retry) replaces the strategy's adjustments with
the reviewer's parameters whenever a retry is triggered.

At most ``max_attempts`` retries (3 by default); after that the decision says to escalate.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sk_loadagent.models.durations import format_duration
from sk_loadagent.models.metrics import PerfMetrics, RetryInfo, Status, TimelinePoint

from ._format import ms, number, pct

Strategy = Literal["standard", "throttled", "staged", "warm-start", "memory-guided"]

THROTTLE_FACTOR = 0.6
STAGED_DIVISOR = 4
STAGED_MIN_S = 15.0
WARMUP_S = 10.0
COOLDOWN_S = 30.0
LONG_COOLDOWN_S = 60.0
SMALL_MARGIN = 0.15
COLD_START_FACTOR = 3.0
COLD_START_MIN_MS = 5.0
CPU_SPIKE_PEAK = 90.0
CPU_SPIKE_SHARE = 0.6


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    trigger: str | None
    strategy: Strategy | None
    adjustments: dict[str, str | float] = field(default_factory=dict)
    cooldown_s: float = 0.0
    reason: str = ""

    def as_retry_info(self, attempt: int, original_status: Status | None) -> RetryInfo:
        """The retry metadata of perf-metrics.json for the attempt this decision starts."""
        return RetryInfo(
            retry_attempt=attempt,
            original_status=original_status,
            trigger=self.trigger,
            strategy=self.strategy,
            adjustments=dict(self.adjustments) or None,
            reason=self.reason,
            outcome="pending",
        )


def detect_cold_start(
    timeline: Sequence[TimelinePoint], *, measured_phases: Collection[str] | None = None, head: int = 3
) -> str | None:
    """A cold start: the median p95 of the first ``head`` windows is ≥ 3× (and ≥ 5 ms above) the median
    of the rest. Needs at least ``head + 5`` windows with a p95."""
    points = [
        p.p95
        for p in timeline
        if p.p95 is not None and (measured_phases is None or p.phase in measured_phases)
    ]
    if len(points) < head + 5:
        return None
    first, rest = float(np.median(points[:head])), float(np.median(points[head:]))
    if rest > 0 and first >= COLD_START_FACTOR * rest and first - rest >= COLD_START_MIN_MS:
        ratio = first / rest
        return (
            f"cold start: the first {head} windows' p95 ({ms(first)}) is {ratio:.1f}× the rest ({ms(rest)})"
        )
    return None


def detect_generator_saturation(metrics: PerfMetrics) -> str | None:
    """The generator, not the service, limited the run (see ``GeneratorStats.saturated``)."""
    g = metrics.generator
    if g is None or not g.saturated:
        return None
    parts = []
    if g.requests and g.late_starts / g.requests > 0.01:
        parts.append(f"{pct(g.late_starts / g.requests)} late starts")
    if g.dropped:
        parts.append(f"{g.dropped} dropped")
    if g.cpu_pct > 90.0 * max(1, g.workers):
        parts.append(f"generator CPU {number(g.cpu_pct)} %")
    return "generator saturation: " + (", ".join(parts) or "the generator fell behind its schedule")


def detect_cpu_spike(metrics: PerfMetrics) -> str | None:
    """A short target CPU spike (peak ≥ 90 % of quota while the average stays ≤ 60 % of the peak); a
    sustained high CPU is a finding about the service, not an anomaly."""
    r = metrics.resources
    if r is None or r.cpu_peak_pct is None or r.cpu_avg_pct is None:
        return None
    if r.cpu_peak_pct >= CPU_SPIKE_PEAK and r.cpu_avg_pct <= CPU_SPIKE_SHARE * r.cpu_peak_pct:
        return (
            f"target CPU spike: peak {number(r.cpu_peak_pct)} % of quota vs average {number(r.cpu_avg_pct)} %"
        )
    return None


def detect_infrastructure_anomaly(metrics: PerfMetrics) -> str | None:
    """The first anomaly found: generator saturation, cold start (measured windows), target CPU spike."""
    measured = {p.name for p in metrics.phases or [] if p.measured} or None
    return (
        detect_generator_saturation(metrics)
        or detect_cold_start(metrics.timeline or [], measured_phases=measured)
        or detect_cpu_spike(metrics)
    )


def _failure_margin(metrics: PerfMetrics) -> float | None:
    """The largest relative miss over the violations (None without violations)."""
    misses = [
        (1.0 - v.observed / v.limit) if v.metric == "rps" else (v.observed / v.limit - 1.0)
        for v in metrics.violations or []
        if v.limit > 0
    ]
    return max(misses) if misses else None


def _trigger(
    metrics: PerfMetrics, retry_on_fail: bool, history_flaky: bool, anomaly: str | None
) -> tuple[str, Strategy] | None:
    status, score = metrics.status, metrics.performance_score
    if anomaly:
        lowered = anomaly.lower()
        if lowered.startswith("cold start"):
            return f"infrastructure anomaly: {anomaly}", "warm-start"
        if lowered.startswith("generator saturation"):
            return f"infrastructure anomaly: {anomaly}", "throttled"
        return f"infrastructure anomaly: {anomaly}", "standard"
    if status == "fail":
        margin = _failure_margin(metrics)
        if metrics.test_type == "spike" and margin is not None and margin < SMALL_MARGIN:
            return f"status fail (spike test missed by {pct(margin)})", "throttled"
        return "status fail", "staged"
    if score is not None and score < 0.5:
        return f"score {score:.2f} < 0.50", "staged"
    if status == "degraded" and history_flaky:
        return "degraded with a flakiness pattern in history", "memory-guided"
    if retry_on_fail and status == "degraded":
        return "retryOnFail", "standard"
    return None


@dataclass(frozen=True)
class PlannedLoad:
    """What the plan asked of the attempt being judged, for sizing the next one.

    ``peak_rps`` is the highest arrival rate of the test's schedule as planned, before any retry scaled it
    (a spike's ``rps``, not its baseline nor the run's mean); ``duration`` is this attempt's ``duration``.
    """

    peak_rps: float | None = None
    duration: float | None = None


def retry_decision(
    metrics: PerfMetrics,
    *,
    attempt: int,
    max_attempts: int = 3,
    retry_on_fail: bool,
    history_flaky: bool,
    infrastructure_anomaly: str | None,
    planned: PlannedLoad | None = None,
    retry_with: Mapping[str, str | float] | None = None,
) -> RetryDecision:
    """Whether to retry the run that produced ``metrics``; ``attempt`` counts the retries already made
    (0 for the original run). ``retry_with`` is a reviewer's retry parameters (Studio ``retryWith``)."""
    found = _trigger(metrics, retry_on_fail, history_flaky, infrastructure_anomaly)
    if found is None:
        return RetryDecision(
            False, None, None, reason=f"no retry trigger (status {metrics.status or 'unknown'})"
        )
    trigger, strategy = found
    if attempt >= max_attempts:
        return RetryDecision(
            False,
            trigger,
            None,
            reason=f"{trigger}, but {max_attempts} retries are used up: escalate (regression alert)",
        )
    if strategy == "standard" and attempt >= 1 and not trigger.startswith("infrastructure"):
        strategy = "throttled"  # the same run failed again: separate capacity from flakiness
    if retry_with:
        strategy, adjustments = reviewer_strategy(retry_with), dict(retry_with)
    else:
        adjustments = _adjustments(metrics, strategy, planned or PlannedLoad())
    cooldown = {"warm-start": 0.0, "memory-guided": LONG_COOLDOWN_S}.get(strategy, COOLDOWN_S)
    if trigger.startswith("infrastructure") and strategy == "standard":
        cooldown = LONG_COOLDOWN_S
    detail = ", ".join(f"{k} {v}" for k, v in adjustments.items())
    source = " set by Studio retryWith" if retry_with else ""
    reason = f"{trigger}: {strategy} retry {attempt + 1} of {max_attempts}{source}" + (
        f" ({detail})" if detail else ""
    )
    return RetryDecision(True, trigger, strategy, adjustments, cooldown, reason)


def reviewer_strategy(retry_with: Mapping[str, str | float]) -> Strategy:
    """The cycle 18 strategy a reviewer's parameters amount to: a new rate or concurrency throttles, a new
    duration alone stages, a warm-up alone is a warm start."""
    if "rps" in retry_with or "vus" in retry_with:
        return "throttled"
    if "duration" in retry_with:
        return "staged"
    if "warmup" in retry_with:
        return "warm-start"
    return "standard"


def schedule_peak_rps(metrics: PerfMetrics) -> float | None:
    """The highest target rate over the run's phases (its schedule's peak), else the mean target rate."""
    rates = [p.target_rps for p in metrics.phases or [] if p.target_rps]
    return max(rates) if rates else metrics.target_rps


def _throttled(metrics: PerfMetrics, planned: PlannedLoad) -> dict[str, str | float]:
    out: dict[str, str | float] = {"loadFactor": THROTTLE_FACTOR}
    # Without the plan, the run's own schedule stands in for it (its peak, not its mean target rate).
    peak = planned.peak_rps or schedule_peak_rps(metrics)
    if peak:
        # The arithmetic apply_adjustments does on the planned rates, so "rps" is the rate that will run.
        out["rps"] = max(1.0, round(peak * THROTTLE_FACTOR, 3))
    return out


def _staged_duration(metrics: PerfMetrics, planned: PlannedLoad) -> float:
    original = planned.duration or metrics.test_duration
    if not original:
        return STAGED_MIN_S
    return min(original, max(STAGED_MIN_S, round(original / STAGED_DIVISOR)))


def _adjustments(metrics: PerfMetrics, strategy: Strategy, planned: PlannedLoad) -> dict[str, str | float]:
    if strategy == "throttled":
        return _throttled(metrics, planned)
    if strategy == "staged":
        return {"duration": format_duration(_staged_duration(metrics, planned))}
    if strategy == "warm-start":
        return {"warmup": format_duration(WARMUP_S)}
    return {}
