"""performanceScore (spec cycle 15): a weighted sum of five components, each normalised to [0, 1].

    performanceScore = 0.35·latency + 0.25·throughput + 0.20·errorRate
                     + 0.10·resourceUtilization + 0.10·baselineDelta

Scores are kept unrounded; they are rounded to two decimals only when written. Each component's rule is
in its function's docstring, and every component carries a reason a person can check by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields

from sk_loadagent.errors import InputError
from sk_loadagent.models.metrics import (
    BaselineComparison,
    LatencySummary,
    PerfMetrics,
    ScoreComponents,
    ScoreWeights,
)

from ._format import ms, number, pct, signed_pct
from .thresholds import Limit, ResolvedLimits

ERROR_RATE_ZERO = 0.05
CPU_DEFAULT_LIMIT = 90.0
MEMORY_FREE_SHARE = 0.85
DELTA_KNEE = 0.20
DELTA_KNEE_SCORE = 0.90
DELTA_ZERO = 1.00


@dataclass(frozen=True)
class ComponentScore:
    value: float
    reason: str


@dataclass(frozen=True)
class ScoreBreakdown:
    """The score, its components and weights, and one reason per component."""

    score: float
    components: ScoreComponents
    weights: ScoreWeights
    reasons: list[str]


def _linear(value: float, one_at: float, zero_at: float) -> float:
    """1.0 at ``one_at``, 0.0 at ``zero_at``, linear in between, clamped outside (either direction)."""
    if one_at == zero_at:
        return 1.0 if value == one_at else 0.0
    return min(1.0, max(0.0, (zero_at - value) / (zero_at - one_at)))


def latency_score(latency: LatencySummary | None, limits: ResolvedLimits) -> ComponentScore:
    """For each configured percentile limit (p50, p95, p99): 1.0 at or under the limit, falling linearly
    to 0.0 at twice the limit. The component is the lowest of them. No responses at all scores 0.0."""
    configured = [(p, limits.get(f"latency{p.upper()}")) for p in ("p50", "p95", "p99")]
    configured_limits = [(p, lim) for p, lim in configured if lim is not None]
    if not configured_limits:
        return ComponentScore(1.0, "latency: no latency limit configured")
    if latency is None:
        return ComponentScore(0.0, "latency: not measured (no responses)")
    parts: list[tuple[float, str]] = []
    for p, lim in configured_limits:
        observed: float | None = getattr(latency, p)
        if observed is None:
            continue
        value = _linear(observed, lim.value, 2 * lim.value)
        parts.append((value, f"{p} {ms(observed)} vs {ms(lim.value)} limit → {value:.2f}"))
    if not parts:
        return ComponentScore(1.0, "latency: not measured")
    worst = min(parts, key=lambda part: part[0])
    return ComponentScore(worst[0], f"latency: {worst[1]} (lowest of {len(parts)})")


def throughput_score(rps: float | None, minimum: Limit | None) -> ComponentScore:
    """1.0 when rps ≥ the minimum; below it the score falls sharply: linearly to 0.0 at half the minimum."""
    if minimum is None:
        return ComponentScore(1.0, "throughput: no rate minimum (closed-model test or none configured)")
    if rps is None:
        return ComponentScore(0.0, "throughput: not measured")
    value = _linear(rps, minimum.value, 0.5 * minimum.value)
    return ComponentScore(
        value, f"throughput: {number(rps)} rps vs {number(minimum.value)} minimum → {value:.2f}"
    )


def error_rate_score(error_rate: float | None, maximum: Limit | None) -> ComponentScore:
    """1.0 at or under errorRateMax, 0.0 at or over 5 %, linear in between. When errorRateMax is itself
    5 % or more: 1.0 up to the limit, 0.0 above it."""
    if error_rate is None:
        return ComponentScore(0.0, "error rate: not measured (no requests)")
    limit = maximum.value if maximum is not None else 0.0
    if limit >= ERROR_RATE_ZERO:
        value = 1.0 if error_rate <= limit else 0.0
    else:
        value = 1.0 if error_rate <= limit else _linear(error_rate, limit, ERROR_RATE_ZERO)
    return ComponentScore(value, f"error rate: {pct(error_rate)} vs {pct(limit)} limit → {value:.2f}")


def resource_utilization_score(
    cpu_pct: float | None, memory_mb: float | None, limits: ResolvedLimits
) -> ComponentScore | None:
    """The mean of the parts that were measured. CPU: 1.0 up to cpuUsageMax (90 % when unset), linear to
    0.0 at 100 %. Memory: 1.0 up to 85 % of memoryUsageMax, linear to 0.0 at 100 % of it (with no
    memoryUsageMax there is nothing to judge memory against). None when no part was measured: the component
    then leaves the score (never counted as 1.0) and ``score_breakdown`` spreads its weight."""
    cpu_limit = limits.value("cpuUsageMax") or CPU_DEFAULT_LIMIT
    parts: list[float] = []
    texts: list[str] = []
    if cpu_pct is None:
        texts.append("CPU not measured")
    else:
        parts.append(1.0 if cpu_pct <= cpu_limit else _linear(cpu_pct, cpu_limit, max(100.0, cpu_limit)))
        texts.append(f"CPU {number(cpu_pct)} % vs {number(cpu_limit)} % → {parts[-1]:.2f}")
    memory_limit = limits.value("memoryUsageMax")
    if memory_mb is None:
        texts.append("memory not measured")
    elif memory_limit is None:
        texts.append(f"memory {number(memory_mb)} MB, no memoryUsageMax configured (not judged)")
    else:
        parts.append(_linear(memory_mb, MEMORY_FREE_SHARE * memory_limit, memory_limit))
        texts.append(f"memory {number(memory_mb)} MB vs {number(memory_limit)} MB quota → {parts[-1]:.2f}")
    if not parts:
        return None
    return ComponentScore(sum(parts) / len(parts), f"resources: {'; '.join(texts)}")


def p95_delta(comparison: BaselineComparison | None) -> float | None:
    """The relative p95 change against the baseline, or None without a usable baseline. Another agent may
    send only the spelled delta (spec cycle 7: ``"deltaLatencyP95": "+31%"``); it is read when the
    figures are missing."""
    if comparison is None or comparison.exploratory:
        return None
    base, current = comparison.p95_latency_baseline, comparison.p95_current
    if base is None or current is None or base <= 0:
        return _spelled_delta(comparison.delta_latency_p95)
    return current / base - 1.0


def _spelled_delta(text: str | None) -> float | None:
    match = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*%\s*", text or "")
    return float(match.group(1)) / 100 if match else None


def baseline_delta_score(comparison: BaselineComparison | None) -> ComponentScore:
    """No baseline: 1.0 (exploratory). p95 equal or better than the baseline: 1.0. An increase up to
    20 %: 1 − 0.5·delta (0.90 at +20 %). Above 20 %: linear from 0.90 down to 0.0 at +100 %."""
    delta = p95_delta(comparison)
    if delta is None:
        return ComponentScore(1.0, "baseline: none to compare with (exploratory)")
    if delta <= 0:
        value = 1.0
    elif delta <= DELTA_KNEE:
        value = 1.0 - 0.5 * delta
    else:
        value = DELTA_KNEE_SCORE * _linear(delta, DELTA_KNEE, DELTA_ZERO)
    return ComponentScore(value, f"baseline: p95 {signed_pct(delta)} vs baseline → {value:.2f}")


def score_breakdown(
    metrics: PerfMetrics, limits: ResolvedLimits, weights: ScoreWeights | None = None
) -> ScoreBreakdown:
    """The score with its components and a reason for each (weights are renormalised to sum to 1)."""
    w = _normalised(weights or ScoreWeights())
    measured = resource_utilization_score(metrics.cpu_usage_pct, metrics.memory_usage_mb, limits)
    resources = measured or ComponentScore(
        0.0,
        "resources: not measured (no CPU or memory of the target): left out of the score, its weight "
        f"{w.resource_utilization:.2f} spread over the other components",
    )
    if measured is None and w.resource_utilization < 1.0:
        w = _normalised(w.model_copy(update={"resource_utilization": 0.0}))
    parts = (
        latency_score(metrics.latency, limits),
        throughput_score(metrics.rps, limits.get("rpsMin")),
        error_rate_score(metrics.error_rate, limits.get("errorRateMax")),
        resources,
        baseline_delta_score(metrics.baseline_comparison),
    )
    components = ScoreComponents(
        latency_score=parts[0].value,
        throughput_score=parts[1].value,
        error_rate_score=parts[2].value,
        resource_utilization_score=measured.value if measured is not None else None,
        baseline_delta_score=parts[4].value,
    )
    total = (
        w.latency * parts[0].value
        + w.throughput * parts[1].value
        + w.error_rate * parts[2].value
        + w.resource_utilization * parts[3].value
        + w.baseline_delta * parts[4].value
    )
    return ScoreBreakdown(min(1.0, max(0.0, total)), components, w, [p.reason for p in parts])


def score(
    metrics: PerfMetrics, limits: ResolvedLimits, weights: ScoreWeights
) -> tuple[float, ScoreComponents]:
    """performanceScore (unrounded) and its components."""
    breakdown = score_breakdown(metrics, limits, weights)
    return breakdown.score, breakdown.components


_WEIGHT_NAMES = ("latency", "throughput", "error_rate", "resource_utilization", "baseline_delta")


def _normalised(weights: ScoreWeights, source: str = "score weights") -> ScoreWeights:
    values = {name: float(getattr(weights, name)) for name in _WEIGHT_NAMES}
    for name, value in values.items():
        if value < 0:
            raise InputError.single(source, _wire(name), "a weight of 0 or more", number(value))
    total = sum(values.values())
    if total <= 0:
        raise InputError.single(source, "", "at least one weight above 0", "all weights 0")
    return ScoreWeights(**{name: value / total for name, value in values.items()})


def _wire(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class WeightOverride:
    """Score weights for a scope (customWeighting.yaml entries and edition calibration, spec cycle 15).

    Scope fields left None match anything; weight fields left None keep the weight from a less specific
    scope (or the default). ``source`` names the file for error messages.
    """

    module_id: str | None = None
    edition_id: str | None = None
    test_type: str | None = None
    latency: float | None = None
    throughput: float | None = None
    error_rate: float | None = None
    resource_utilization: float | None = None
    baseline_delta: float | None = None
    source: str = "customWeighting.yaml"

    def matches(self, module_id: str | None, edition_id: str | None, test_type: str | None) -> bool:
        return (
            (self.module_id is None or self.module_id == module_id)
            and (self.edition_id is None or self.edition_id == edition_id)
            and (self.test_type is None or self.test_type == test_type)
        )

    @property
    def specificity(self) -> int:
        """Test type weighs more than edition, edition more than module (as for threshold scopes)."""
        return (4 if self.test_type else 0) + (2 if self.edition_id else 0) + (1 if self.module_id else 0)


def resolve_weights(
    overrides: Sequence[WeightOverride], module_id: str | None, edition_id: str | None, test_type: str | None
) -> ScoreWeights:
    """The weights for one test: defaults, then every matching override from least to most specific (so
    the most specific scope wins per weight; among equals the later one), renormalised to sum to 1.

    Raises InputError naming the override's source and field for a negative weight or all-zero weights.
    """
    chosen = {name: float(getattr(ScoreWeights(), name)) for name in _WEIGHT_NAMES}
    matching = sorted(
        (o for o in overrides if o.matches(module_id, edition_id, test_type)), key=lambda o: o.specificity
    )
    source = "score weights"
    for override in overrides:
        for f in fields(WeightOverride):
            value = getattr(override, f.name)
            if f.name in _WEIGHT_NAMES and value is not None and value < 0:
                raise InputError.single(
                    override.source, _wire(f.name), "a weight of 0 or more", number(value)
                )
    for override in matching:
        for name in _WEIGHT_NAMES:
            value = getattr(override, name)
            if value is not None:
                chosen[name] = float(value)
        source = override.source
    return _normalised(ScoreWeights(**chosen), source)
