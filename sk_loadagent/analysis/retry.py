"""Whether a judged test is retried, how, or escalated at once, and why (spec cycle 18). The planner loops.

A retry costs time and can only help when it can change the verdict. The rule, in order:

1. **A pass is never retried.** (An infrastructure anomaly on a pass makes it a warning in ``classify``.)
2. **A deterministic failure escalates at once**, with its reason (a retry would reproduce it):
   - an infrastructure failure (``outage.detect_infrastructure_failure``: the run mostly failed at the
     connection), unless its failures were all at the start and then cleared;
   - an error storm: errors above twice ``errorRateMax`` and at least 5 %, in at least half the measured
     windows;
   - p95 over twice its limit, and over the limit in at least half the measured windows;
   - a stress test whose capacity is below its design limit, with consistent steps (every rate that held
     is below every rate that broke).
3. **A trigger a retry can change**, first match wins. A degraded or failed test is retried for
   - connection failures at start (connection-level failures only in the first half of the measured
     windows: the target was still coming up) → warm-start;
   - a cold start (the first windows' p95 ≥ 3× the rest) → warm-start (a 10 s warm-up, not measured);
   - a short CPU spike on the target → standard;
   - an open-model generator that fell behind its schedule (> 1 % late starts or any dropped) →
     throttled (× 0.6): never a closed-model or stress test, whose generator runs flat out by design;
   - a p95 regression whose 95 % interval straddles its tolerance → standard, to confirm it;
   - a score within its noise (``score_noise``) of a better verdict: ``classify`` gives the test's facts a
     better status at the score plus its noise → standard;
   - a flakiness pattern in history → memory-guided (same parameters);
   - ``retryOnFail`` → standard.
   A warning is retried only for the score-noise trigger (a pass-with-anomaly warning scores ≥ 0.90, so
   it never qualifies).
4. **Each trigger retries a test at most once**: when the retry it asked for did not change the verdict, the
   same retry again would not either; a failing test then escalates. At most ``max_attempts`` retries in
   all, and only within the retry budget (``fits_budget``); a failing test that wanted a retry it could
   not get escalates.

Warm-start applies to test types whose schedule has a warm-up phase (load, soak, concurrency), and when the
retry budget has room for the warm-up; otherwise a standard retry runs, which finds the service as warm as
the first run left it. A throttled retry scales the test's planned schedule: ``loadFactor`` multiplies every
planned rate (as ``suite.execution_plan.apply_adjustments`` applies it, always to the plan) and ``rps``
reports the peak rate that will run. A Studio reviewer's ``retryWith`` (cycle 18, human-aware retry)
replaces the strategy's adjustments whenever a retry is triggered.

Cool-downs are at most ``COOLDOWN_S`` (none before a warm start: the point is a warm service); the planner
shortens a cool-down so the retry fits its budget, or sets another length (``--retry-cooldown``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sk_loadagent.models.durations import format_duration, parse_duration
from sk_loadagent.models.metrics import (
    STATUS_ORDER,
    LatencySummary,
    PerfMetrics,
    RetryInfo,
    Status,
    TimelinePoint,
)

from ._format import ms, number, pct, signed_pct
from .outage import CONNECTION_FAILURES
from .regression import DEFAULT_RUN_NOISE
from .scoring import _spelled_delta, score_breakdown
from .thresholds import ResolvedLimits, Tolerance
from .verdict import classify, type_reading

Strategy = Literal["standard", "throttled", "staged", "warm-start", "memory-guided"]
TriggerKind = Literal[
    "connection-failures-at-start",
    "cold-start",
    "cpu-spike",
    "generator-behind",
    "regression-straddles-tolerance",
    "score-within-noise",
    "flaky-history",
    "retry-on-fail",
]

THROTTLE_FACTOR = 0.6
WARMUP_S = 10.0
COOLDOWN_S = 10.0
COLD_START_FACTOR = 3.0
COLD_START_MIN_MS = 5.0
CPU_SPIKE_PEAK = 90.0
CPU_SPIKE_SHARE = 0.6
MAX_LATE_SHARE = 0.01
# How much the generator's lateness may raise the judged p95 above the service's own p95 (timed from the
# actual send) before it counts: the 5 % run-to-run noise floor regression uses.
LATENESS_EFFECT = 0.05
ERROR_STORM_MIN = 0.05  # the error rate at which the score's error component reaches 0
SPREAD_SHARE = 0.5  # "throughout the run": in at least half the measured windows
Z95 = 1.96
# Schedules with a warm-up phase (engine._build): elsewhere a "warmup" adjustment would change nothing.
WARMUP_TYPES = frozenset({"load", "soak", "concurrency"})
# At the start of a run, a target still coming up refuses, resets or closes connections, or does not answer.
START_OUTCOMES = (*CONNECTION_FAILURES, "protocolError", "timeout")
_FAILING: frozenset[str] = frozenset({"degraded", "fail"})


@dataclass(frozen=True)
class RetryDecision:
    """One test's decision. ``escalate``: a failing test that is not (or no longer) retried goes to
    review; ``cost_s``: the retry's planned schedule in seconds (start-up and cool-down not included)."""

    retry: bool
    trigger: str | None
    strategy: Strategy | None
    adjustments: dict[str, str | float] = field(default_factory=dict)
    cooldown_s: float = 0.0
    reason: str = ""
    kind: TriggerKind | None = None
    escalate: bool = False
    cost_s: float = 0.0

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


# -- what kind of test ---------------------------------------------------------------------------------


def closed_model(metrics: PerfMetrics) -> bool:
    """VUs drive the test (timed from the actual send), not an arrival schedule."""
    if metrics.measurement is not None:
        return metrics.measurement.timed_from == "actual-send"
    return metrics.test_type == "concurrency" or any(p.target_vus is not None for p in metrics.phases or [])


def stress_test(metrics: PerfMetrics) -> bool:
    return metrics.test_type == "stress" or metrics.stress is not None


def _measured_windows(metrics: PerfMetrics) -> list[TimelinePoint]:
    """Timeline windows of the measured phases that saw traffic (all windows when phases are unknown)."""
    measured = {p.name for p in metrics.phases or [] if p.measured}
    return [
        p
        for p in metrics.timeline or []
        if (not measured or p.phase in measured) and (p.rps > 0 or p.errors > 0)
    ]


def _limit(metrics: PerfMetrics, name: str) -> float | None:
    return next((t.limit for t in metrics.thresholds or [] if t.metric == name), None)


# -- infrastructure anomalies --------------------------------------------------------------------------


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
    """The generator, not the service, may have limited an open-model run (``GeneratorStats.saturated``).
    None for a closed-model or stress test: their generator runs flat out by design (a VU sends as soon as
    its answer is in; a stress test raises the rate until something gives), so saturation is expected."""
    g = metrics.generator
    if g is None or not g.saturated or closed_model(metrics) or stress_test(metrics):
        return None
    parts = []
    if g.requests and g.late_starts / g.requests > MAX_LATE_SHARE:
        parts.append(f"{pct(g.late_starts / g.requests)} late starts")
    if g.dropped:
        parts.append(f"{g.dropped} dropped")
    if g.cpu_pct > 90.0 * max(1, g.workers):
        parts.append(f"generator CPU {number(g.cpu_pct)} %")
    return "generator saturation: " + (", ".join(parts) or "the generator fell behind its schedule")


def _generator_behind(metrics: PerfMetrics) -> bool:
    """The generator fell behind enough to change what is judged: it dropped requests, or more than 1 % of
    them started late AND that lateness raised the p95 (timed from the intended start) more than 5 % above
    the service's own p95 (timed from the actual send). Not CPU alone, and not a few late starts on a busy
    machine that left the p95 where the service put it: both measured correctly, and calling them an
    anomaly would turn every pass on a busy CI runner into a warning that never becomes a baseline."""
    g = metrics.generator
    if g is None:
        return False
    if g.dropped > 0:
        return True
    if g.requests == 0 or g.late_starts / g.requests <= MAX_LATE_SHARE:
        return False
    judged = metrics.latency.p95 if metrics.latency is not None else None
    own = metrics.service_time.p95 if metrics.service_time is not None else None
    if judged is None or own is None or own <= 0:
        return True  # nothing to tell the generator's share from the service's: take the late starts
    return judged > own * (1.0 + LATENESS_EFFECT)


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
    """The first anomaly found: a generator behind its schedule (open-model, non-stress tests only, and
    only where it changed the judged figures: ``_generator_behind``), cold start (measured windows), target
    CPU spike."""
    measured = {p.name for p in metrics.phases or [] if p.measured} or None
    return (
        (detect_generator_saturation(metrics) if _generator_behind(metrics) else None)
        or detect_cold_start(metrics.timeline or [], measured_phases=measured)
        or detect_cpu_spike(metrics)
    )


def detect_connection_failures_at_start(metrics: PerfMetrics) -> str | None:
    """Connection-level failures (refused, reset, closed, timeouts) that make up most errors and all fall
    in the first half of the measured windows, the rest being clean: the target was still coming up.
    Needs at least 4 windows."""
    windows = _measured_windows(metrics)
    kinds = metrics.errors or {}
    at_start = sum(kinds.get(k, 0) for k in START_OUTCOMES)
    if len(windows) < 4 or at_start == 0 or at_start < 0.5 * sum(kinds.values()):
        return None
    last_bad = max(i for i, w in enumerate(windows) if w.errors > 0)
    if last_bad >= len(windows) // 2:
        return None
    dominant = max(START_OUTCOMES, key=lambda k: kinds.get(k, 0))
    step = windows[1].t - windows[0].t
    cleared_at = windows[last_bad + 1].t
    bad_for, clean_for = cleared_at - windows[0].t, windows[-1].t + step - cleared_at
    return (
        f"connection failures at start: {at_start} failed ({dominant}) in the first "
        f"{format_duration(round(bad_for, 3))}, none in the {format_duration(round(clean_for, 3))} after"
    )


# -- deterministic failures ----------------------------------------------------------------------------


def detect_errors_throughout(metrics: PerfMetrics) -> str | None:
    """An error storm: an error rate above twice ``errorRateMax`` and at least 5 %, with errors in at least
    half the measured windows (none are known: the run's rate alone)."""
    rate = metrics.error_rate
    limit = _limit(metrics, "errorRateMax") or 0.0
    if rate is None or rate <= 2 * limit or rate < ERROR_STORM_MIN:
        return None
    windows = _measured_windows(metrics)
    bad = sum(1 for w in windows if w.errors > 0)
    if windows and bad < SPREAD_SHARE * len(windows):
        return None
    kinds = metrics.errors or {}
    dominant = max(kinds, key=lambda k: kinds[k]) if kinds else "unknown"
    spread = f" in {bad} of {len(windows)} windows" if windows else ""
    over = f", over twice the {pct(limit)} errorRateMax" if limit > 0 else ""
    return f"error storm: {pct(rate)} of requests failed ({dominant}){spread}{over}"


def detect_p95_far_over_limit(metrics: PerfMetrics) -> str | None:
    """p95 above twice its limit, and over the limit in at least half the measured windows (so not a cold
    start or a short stall). Not for stress tests, whose overloaded steps are judged by the breaking point."""
    limit = _limit(metrics, "latencyP95")
    p95 = metrics.latency.p95 if metrics.latency is not None else None
    if limit is None or p95 is None or p95 <= 2 * limit or stress_test(metrics):
        return None
    windows = [w for w in _measured_windows(metrics) if w.p95 is not None]
    over = sum(1 for w in windows if w.p95 is not None and w.p95 > limit)
    if windows and over < SPREAD_SHARE * len(windows):
        return None
    spread = f", over the limit in {over} of {len(windows)} windows" if windows else ""
    return f"p95 {ms(p95)} is more than twice its {ms(limit)} limit{spread}"


def detect_stress_capacity_short(metrics: PerfMetrics) -> str | None:
    """A stress test whose capacity is below its design limit, with consistent steps: every rate that held
    is below every rate that broke, so the capacity was measured, not stumbled upon."""
    stress = metrics.stress
    if stress is None or stress.design_limit_rps is None or not stress.steps:
        return None
    design, held = stress.design_limit_rps, stress.breaking_point_rps
    if held is not None and held >= design:
        return None
    held_rates = [s.rps for s in stress.steps if s.held]
    broken_rates = [s.rps for s in stress.steps if not s.held]
    if not broken_rates or (held_rates and max(held_rates) >= min(broken_rates)):
        return None
    found = f"capacity {held:g} rps" if held is not None else "no step held"
    return (
        f"stress: {found}, below the design limit {design:g} rps, with consistent steps "
        f"({len(held_rates)} held below {min(broken_rates):g} rps, {len(broken_rates)} broke from it)"
    )


def deterministic_failure(metrics: PerfMetrics) -> str | None:
    """Why a retry would reproduce this failure, or None. An infrastructure failure (the test's
    ``infrastructureFailure``, from ``outage.detect_infrastructure_failure``) counts unless its failures were
    all at the start and then cleared: a target still coming up, which a retry can find ready."""
    outage = metrics.infrastructure_failure
    if outage is not None and detect_connection_failures_at_start(metrics) is None:
        return outage
    return (
        detect_errors_throughout(metrics)
        or detect_p95_far_over_limit(metrics)
        or detect_stress_capacity_short(metrics)
    )


# -- noise of the score --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreNoise:
    """How far a re-measure may move the score: ``score`` is half the score's range when every latency
    percentile moves by ±1.96 ``latency`` (relative), the run-to-run noise of latency this run measured."""

    score: float
    latency: float
    source: str


def latency_noise(metrics: PerfMetrics) -> tuple[float, str]:
    """The relative run-to-run noise (one standard deviation) of this run's latency percentiles.

    With a baseline comparison: the half-width of the p95 change's 95 % interval ÷ 1.96, on the log scale.
    That interval covers both runs' sampling (a bootstrap of the histograms) and run-to-run noise (≥ 5 %,
    or the series' own A/A calibration), so it errs towards a retry. Without one: the default run-to-run
    noise (5 %) combined with the sampling spread of the windows' p95 (their log-spread ÷ √windows).
    """
    comparison = metrics.baseline_comparison
    interval = comparison.delta_latency_p95_interval if comparison is not None else None
    if interval is not None and not (comparison is not None and comparison.exploratory):
        low, high = _spelled_delta(interval.low), _spelled_delta(interval.high)
        if low is not None and high is not None and low > -1 and high > low:
            sigma = (math.log1p(high) - math.log1p(low)) / 2 / Z95
            return sigma, f"the p95 change's interval [{interval.low}, {interval.high}]"
    p95s = [w.p95 for w in _measured_windows(metrics) if w.p95 is not None and w.p95 > 0]
    sampling = float(np.std(np.log(p95s), ddof=1) / math.sqrt(len(p95s))) if len(p95s) >= 2 else 0.0
    sigma = math.hypot(DEFAULT_RUN_NOISE, sampling)
    return sigma, f"run-to-run noise {pct(DEFAULT_RUN_NOISE)} and the windows' p95 spread {pct(sampling)}"


def score_noise(metrics: PerfMetrics, limits: ResolvedLimits) -> ScoreNoise | None:
    """The score's noise, by scoring the run again with its latency ±1.96 σ (``latency_noise``) through the
    real score (``score_breakdown``, same limits and weights). Rate and error rate are left as measured:
    an open-model test delivers its rate, and the error component is flat below its limit."""
    if metrics.latency is None or metrics.performance_score is None:
        return None
    sigma, source = latency_noise(metrics)
    low, high = (_scaled(metrics, 1 - Z95 * sigma), _scaled(metrics, 1 + Z95 * sigma))
    spread = score_breakdown(low, limits, metrics.score_weights).score
    spread -= score_breakdown(high, limits, metrics.score_weights).score
    return ScoreNoise(score=max(0.0, spread / 2), latency=sigma, source=source)


def _scaled(metrics: PerfMetrics, factor: float) -> PerfMetrics:
    latency = metrics.latency or LatencySummary()
    scaled = {k: v * factor for k, v in latency.model_dump().items() if v is not None}
    update: dict[str, object] = {"latency": latency.model_copy(update=scaled)}
    comparison = metrics.baseline_comparison
    if comparison is not None and comparison.p95_current is not None:
        update["baseline_comparison"] = comparison.model_copy(
            update={"p95_current": comparison.p95_current * factor}
        )
    return metrics.model_copy(update=update)


def score_within_noise(metrics: PerfMetrics, noise: ScoreNoise | None) -> str | None:
    """The score plus its noise would change the verdict: ``classify``, given what the test carries
    (violations, comparison, error rate, type reading, infrastructure findings), says a better status at
    that score. None when those facts do not reproduce the status (a Studio override set it)."""
    status, score = metrics.status, metrics.performance_score
    if noise is None or score is None or status not in ("warning", "degraded", "fail"):
        return None
    if _status_at(metrics, score) != status:
        return None
    better = _status_at(metrics, min(1.0, score + noise.score))
    if STATUS_ORDER[better] >= STATUS_ORDER[status]:
        return None
    return (
        f"score {score:.2f} is within its noise (±{noise.score:.2f}, from {noise.source}) "
        f"of the {better} band"
    )


def _status_at(metrics: PerfMetrics, score: float) -> Status:
    """The status ``classify`` gives the test's own facts at ``score``."""
    return classify(
        score,
        metrics.violations or [],
        metrics.baseline_comparison,
        tolerance=_limit(metrics, "regressionP95") or Tolerance().p95,
        reading=type_reading(metrics),
        error_rate=metrics.error_rate,
        infrastructure_failure=metrics.infrastructure_failure,
        infrastructure_anomaly=detect_infrastructure_anomaly(metrics),
    ).status


def regression_straddles_tolerance(metrics: PerfMetrics) -> str | None:
    """A confirmed p95 regression whose 95 % interval has the tolerance inside it: the estimate is clear of
    0 but not clearly past the tolerance, so one more measurement decides."""
    comparison = metrics.baseline_comparison
    if comparison is None or not comparison.regressed or comparison.exploratory:
        return None
    p95 = (comparison.metrics or {}).get("p95")
    if p95 is not None and not p95.regressed:
        return None  # rps or the error rate regressed: their figures are not noisy the same way
    interval = comparison.delta_latency_p95_interval
    tolerance = _limit(metrics, "regressionP95")
    if interval is None or tolerance is None:
        return None
    low, high = _spelled_delta(interval.low), _spelled_delta(interval.high)
    if low is None or high is None or not low < tolerance < high:
        return None
    return (
        f"p95 regressed {comparison.delta_latency_p95} [{interval.low}, {interval.high}], an interval "
        f"that straddles the {signed_pct(tolerance)} tolerance: re-measured once to confirm"
    )


# -- the decision --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedLoad:
    """What the plan asked of the attempt being judged, for sizing the next one.

    ``peak_rps`` is the highest arrival rate of the test's schedule as planned, before any retry scaled it
    (a spike's ``rps``, not its baseline nor the run's mean); ``duration`` and ``warmup`` are this
    attempt's; ``seconds`` is its whole schedule (ramp-up, warm-up, a stress test's search included).
    """

    peak_rps: float | None = None
    duration: float | None = None
    seconds: float | None = None
    warmup: float | None = None


@dataclass(frozen=True)
class _Trigger:
    kind: TriggerKind
    text: str
    strategy: Strategy


def _warm_or_standard(metrics: PerfMetrics) -> Strategy:
    return "warm-start" if metrics.test_type in WARMUP_TYPES else "standard"


def _trigger(
    metrics: PerfMetrics, retry_on_fail: bool, history_flaky: bool, noise: ScoreNoise | None
) -> _Trigger | None:
    noisy = score_within_noise(metrics, noise)
    if metrics.status not in _FAILING:
        return _Trigger("score-within-noise", noisy, "standard") if noisy else None
    measured = {p.name for p in metrics.phases or [] if p.measured} or None
    found: list[tuple[TriggerKind, str | None, Strategy]] = [
        (
            "connection-failures-at-start",
            detect_connection_failures_at_start(metrics),
            _warm_or_standard(metrics),
        ),
        (
            "cold-start",
            detect_cold_start(metrics.timeline or [], measured_phases=measured),
            _warm_or_standard(metrics),
        ),
        ("cpu-spike", detect_cpu_spike(metrics), "standard"),
        (
            "generator-behind",
            detect_generator_saturation(metrics) if _generator_behind(metrics) else None,
            "throttled",
        ),
        ("regression-straddles-tolerance", regression_straddles_tolerance(metrics), "standard"),
        ("score-within-noise", noisy, "standard"),
        (
            "flaky-history",
            f"{metrics.status} with a flakiness pattern in history" if history_flaky else None,
            "memory-guided",
        ),
        ("retry-on-fail", "retryOnFail" if retry_on_fail else None, "standard"),
    ]
    return next((_Trigger(kind, text, strategy) for kind, text, strategy in found if text), None)


def retry_decision(
    metrics: PerfMetrics,
    *,
    attempt: int,
    max_attempts: int = 3,
    retry_on_fail: bool = False,
    history_flaky: bool = False,
    noise: ScoreNoise | None = None,
    planned: PlannedLoad | None = None,
    retry_with: Mapping[str, str | float] | None = None,
    retried_for: Collection[str] = (),
    budget: RetryBudget | None = None,
) -> RetryDecision:
    """Whether to retry the run that produced ``metrics`` (see the module docstring for the rule).

    ``attempt`` counts the retries already made (0 for the original run); ``retried_for`` lists the trigger
    kinds that already retried this test; ``noise`` is the score's (``score_noise``); ``retry_with`` is a
    reviewer's retry parameters (Studio ``retryWith``). With a ``budget``, a warm start whose warm-up would
    not fit becomes a standard retry (whether the retry fits at all is ``fits_budget``'s, over the suite).
    """
    status = metrics.status
    failing = status in _FAILING
    if status == "pass":
        return RetryDecision(False, None, None, reason="status pass: a pass is never retried")
    deterministic = deterministic_failure(metrics) if failing else None
    if deterministic is not None:
        return RetryDecision(
            False,
            deterministic,
            None,
            escalate=True,
            reason=f"{deterministic}: a retry would reproduce it: escalate",
        )
    found = _trigger(metrics, retry_on_fail, history_flaky, noise)
    if found is None:
        return RetryDecision(False, None, None, reason=f"no retry trigger (status {status or 'unknown'})")
    trigger = found.text
    if found.kind in retried_for:
        outcome = "escalate" if failing else "no further retry"
        return RetryDecision(
            False,
            trigger,
            None,
            kind=found.kind,
            escalate=failing,
            reason=f"{trigger}, but a retry for it already ran and the verdict held: {outcome}",
        )
    if attempt >= max_attempts:
        return RetryDecision(
            False,
            trigger,
            None,
            kind=found.kind,
            escalate=failing,
            reason=f"{trigger}, but {max_attempts} retries are used up: escalate (regression alert)",
        )
    load = planned or PlannedLoad()
    note = ""
    if retry_with:
        strategy, adjustments = reviewer_strategy(retry_with), dict(retry_with)
    else:
        strategy, adjustments = found.strategy, _adjustments(metrics, found.strategy, load)
        if strategy == "warm-start" and not _fits(retry_seconds(metrics, load, adjustments), budget):
            strategy, adjustments = "standard", {}
            note = "; no room for a warm-up in the retry budget, and the first run warmed the service"
    cooldown = 0.0 if strategy == "warm-start" else COOLDOWN_S
    detail = ", ".join(f"{k} {v}" for k, v in adjustments.items())
    source = " set by Studio retryWith" if retry_with else ""
    reason = f"{trigger}: {strategy} retry {attempt + 1} of {max_attempts}{source}" + (
        f" ({detail})" if detail else ""
    )
    reason += note
    return RetryDecision(
        True,
        trigger,
        strategy,
        adjustments,
        cooldown,
        reason,
        kind=found.kind,
        cost_s=retry_seconds(metrics, load, adjustments),
    )


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


def _adjustments(metrics: PerfMetrics, strategy: Strategy, planned: PlannedLoad) -> dict[str, str | float]:
    if strategy == "throttled":
        return _throttled(metrics, planned)
    if strategy == "warm-start":
        return {"warmup": format_duration(WARMUP_S)}
    return {}


def retry_seconds(
    metrics: PerfMetrics, planned: PlannedLoad, adjustments: Mapping[str, str | float]
) -> float:
    """The schedule a retry with ``adjustments`` will run, in seconds: the judged attempt's (the plan's, or
    the run's own phases) with a new duration or warm-up swapped in."""
    phases = metrics.phases or []
    seconds = planned.seconds or (max(p.end for p in phases) if phases else metrics.test_duration or 0.0)
    for name, before in (("duration", planned.duration), ("warmup", planned.warmup or 0.0)):
        if name in adjustments and before is not None:
            seconds += parse_duration(adjustments[name]) - before
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryBudget:
    """What the retry phase may still spend, in seconds, cool-downs included, and what running one test
    costs beyond its schedule (worker start-up, judging), as the judged attempt measured it."""

    seconds_left: float
    overhead_s: float = 0.0


def _fits(cost: float, budget: RetryBudget | None) -> bool:
    return fits_budget([cost], budget) == 1


def fits_budget(costs: Sequence[float], budget: RetryBudget | None) -> int:
    """How many of the wanted retries, in order, fit the budget (each costs its schedule plus overhead)."""
    if budget is None:
        return len(costs)
    spent = 0.0
    for count, cost in enumerate(costs):
        spent += cost + budget.overhead_s
        if spent > budget.seconds_left + 1e-9:
            return count
    return len(costs)
