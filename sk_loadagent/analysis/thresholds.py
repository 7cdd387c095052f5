"""Which limits apply to a test, where each one came from, and which ones the run broke.

Precedence, per limit (the first source that sets it wins):

1. ``studio.annotation`` (a reviewer's override),
2. ``perf-thresholds.yaml[<scope>]``: every matching scope of every file, most specific first
   (endpoint > testType > edition > module, ``ScopedLimits.specificity``; ties keep file order),
3. ``edition.config.json`` (the edition's SLOs),
4. ``memory`` (limits derived from the baseline, e.g. baseline p95 × (1 + tolerance)),
5. ``default`` (errorRateMax 0.01, latencyP95 800 ms).

With no ``rpsMin`` from any source, an open-model test must still deliver 90 % of its target rate
(source ``target-rate``); a closed-model test has no rate minimum. Latency-profiling and stress tests take
no ``rpsMin`` from any source: the first probes at a fixed low rate, the second is judged by its breaking
point. Regression tolerances follow the same
precedence per metric (p95 +25 %, p99 +25 %, rps −20 %, error rate +0.01 absolute by default).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sk_loadagent.models.metrics import EffectiveLimit, PerfMetrics, Violation
from sk_loadagent.models.thresholds import PerfThresholds, RegressionTolerance, ScopedLimits, ThresholdLimits

from ._format import ms, number, pct, signed_pct_spaced

DEFAULT_ERROR_RATE_MAX = 0.01
DEFAULT_LATENCY_P95_MS = 800.0
IMPLICIT_RPS_SHARE = 0.90
RATE_JUDGED_ELSEWHERE = frozenset({"latency", "stress"})
MINOR_LATENCY_EXCESS = 0.20
MINOR_ERROR_FACTOR = 2.0
MINOR_RPS_SHARE = 0.80

LIMIT_METRICS: tuple[str, ...] = (
    "latencyP50",
    "latencyP95",
    "latencyP99",
    "rpsMin",
    "errorRateMax",
    "cpuUsageMax",
    "memoryUsageMax",
)

# The metric a limit's violations carry: what was measured (the limit errorRateMax is broken by errorRate).
VIOLATED_AS: dict[str, str] = {
    "latencyP50": "latencyP50",
    "latencyP95": "latencyP95",
    "latencyP99": "latencyP99",
    "rpsMin": "rps",
    "errorRateMax": "errorRate",
    "cpuUsageMax": "cpuUsagePct",
    "memoryUsageMax": "memoryUsageMb",
}


@dataclass(frozen=True)
class Limit:
    value: float
    source: str


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move against the baseline: p95/p99 relative increase, rps relative decrease,
    error rate absolute increase."""

    p95: float = 0.25
    p99: float = 0.25
    rps: float = 0.20
    error_rate: float = 0.01
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, tolerance: Tolerance | RegressionTolerance | None) -> Tolerance:
        """A full tolerance from a partial RegressionTolerance (unset fields take the defaults)."""
        if tolerance is None:
            return cls()
        if isinstance(tolerance, Tolerance):
            return tolerance
        base = cls()
        return cls(
            p95=tolerance.p95 if tolerance.p95 is not None else base.p95,
            p99=tolerance.p99 if tolerance.p99 is not None else base.p99,
            rps=tolerance.rps if tolerance.rps is not None else base.rps,
            error_rate=tolerance.error_rate if tolerance.error_rate is not None else base.error_rate,
        )


@dataclass(frozen=True)
class ResolvedLimits:
    """The limits of one test, each with the source that set it (None: no limit on that metric)."""

    limits: dict[str, Limit]
    tolerance: Tolerance

    def get(self, metric: str) -> Limit | None:
        """A limit by its wire name: ``latencyP95``, ``rpsMin``, ``errorRateMax``, ..."""
        return self.limits.get(metric)

    def value(self, metric: str) -> float | None:
        limit = self.limits.get(metric)
        return limit.value if limit is not None else None

    def as_effective(self) -> list[EffectiveLimit]:
        """The limits and tolerances for perf-metrics.json ``thresholds``, in a fixed order."""
        out = [
            EffectiveLimit(metric=m, limit=self.limits[m].value, source=self.limits[m].source)
            for m in LIMIT_METRICS
            if m in self.limits
        ]
        for name, wire in (
            ("p95", "regressionP95"),
            ("p99", "regressionP99"),
            ("rps", "regressionRps"),
            ("error_rate", "regressionErrorRate"),
        ):
            out.append(
                EffectiveLimit(
                    metric=wire,
                    limit=getattr(self.tolerance, name),
                    source=self.tolerance.sources.get(name, "default"),
                )
            )
        return out


_GETTERS: dict[str, Callable[[ThresholdLimits], float | None]] = {
    "latencyP50": lambda t: t.latency_limit("p50"),
    "latencyP95": lambda t: t.latency_limit("p95"),
    "latencyP99": lambda t: t.latency_limit("p99"),
    "rpsMin": lambda t: t.rps_min,
    "errorRateMax": lambda t: t.error_rate_max,
    "cpuUsageMax": lambda t: t.cpu_usage_max,
    "memoryUsageMax": lambda t: t.memory_usage_max,
}


def scope_label(scope: ScopedLimits) -> str:
    """``CheckoutService/vetclinic/spike /checkout/submit`` minus unset parts; ``*`` for a file-wide scope."""
    label = "/".join(p for p in (scope.module_id, scope.edition_id, scope.test_type) if p)
    if scope.endpoint:
        label = f"{label} {scope.endpoint}" if label else scope.endpoint
    if scope.step:
        label = f"{label} step {scope.step}" if label else f"step {scope.step}"
    return label or "*"


def resolve_limits(
    *,
    module_id: str | None,
    edition_id: str | None,
    test_type: str,
    endpoint: str | None,
    annotation: ThresholdLimits | None,
    files: Sequence[PerfThresholds],
    edition_slo: ThresholdLimits | None,
    memory_derived: ThresholdLimits | None,
    target_rps: float | None = None,
) -> ResolvedLimits:
    """The effective limits of one test (see the module docstring for the precedence).

    ``target_rps`` is the open-model target rate, used only for the implicit ``rpsMin``; leave it None for
    closed-model (VU) tests.
    """
    sources = _ordered_sources(
        module_id, edition_id, test_type, endpoint, annotation, files, edition_slo, memory_derived
    )
    limits = _first_limits(sources)
    if test_type in RATE_JUDGED_ELSEWHERE:
        limits.pop("rpsMin", None)
        target_rps = None
    limits.setdefault("errorRateMax", Limit(DEFAULT_ERROR_RATE_MAX, "default"))
    limits.setdefault("latencyP95", Limit(DEFAULT_LATENCY_P95_MS, "default"))
    if "rpsMin" not in limits and target_rps is not None and target_rps > 0:
        limits["rpsMin"] = Limit(IMPLICIT_RPS_SHARE * target_rps, "target-rate")
    return ResolvedLimits(limits=limits, tolerance=_tolerance(sources))


def step_limits(
    *,
    module_id: str | None,
    edition_id: str | None,
    test_type: str,
    endpoint: str | None,
    step: str,
    files: Sequence[PerfThresholds],
) -> dict[str, Limit]:
    """A flow step's own limits: only perf-thresholds.yaml scopes naming the step set them (most specific
    first, as for tests); a step has no default limits, its flow's iterations are judged by those."""
    sources = _ordered_sources(module_id, edition_id, test_type, endpoint, None, files, None, None, step=step)
    return _first_limits(sources)


def _first_limits(sources: Sequence[tuple[str, ThresholdLimits]]) -> dict[str, Limit]:
    """Each metric's limit from the first source (most specific first) that sets it."""
    limits: dict[str, Limit] = {}
    for metric, getter in _GETTERS.items():
        for source, values in sources:
            value = getter(values)
            if value is not None:
                limits[metric] = Limit(float(value), source)
                break
    return limits


def _ordered_sources(
    module_id: str | None,
    edition_id: str | None,
    test_type: str,
    endpoint: str | None,
    annotation: ThresholdLimits | None,
    files: Sequence[PerfThresholds],
    edition_slo: ThresholdLimits | None,
    memory_derived: ThresholdLimits | None,
    *,
    step: str | None = None,
) -> list[tuple[str, ThresholdLimits]]:
    sources: list[tuple[str, ThresholdLimits]] = []
    if annotation is not None:
        sources.append(("studio.annotation", annotation))
    scopes = [
        s for f in files for s in f.scopes() if s.matches(module_id, edition_id, test_type, endpoint, step)
    ]
    scopes.sort(key=lambda s: -s.specificity)  # stable: equal specificity keeps file order
    sources += [(f"perf-thresholds.yaml[{scope_label(s)}]", s.limits) for s in scopes]
    if edition_slo is not None:
        sources.append(("edition.config.json", edition_slo))
    if memory_derived is not None:
        sources.append(("memory", memory_derived))
    return sources


def _tolerance(sources: list[tuple[str, ThresholdLimits]]) -> Tolerance:
    chosen: dict[str, float] = {}
    origin: dict[str, str] = {}
    for name in ("p95", "p99", "rps", "error_rate"):
        for source, values in sources:
            value = getattr(values.regression, name) if values.regression is not None else None
            if value is not None:
                chosen[name], origin[name] = float(value), source
                break
    base = Tolerance()
    return Tolerance(
        p95=chosen.get("p95", base.p95),
        p99=chosen.get("p99", base.p99),
        rps=chosen.get("rps", base.rps),
        error_rate=chosen.get("error_rate", base.error_rate),
        sources=origin,
    )


def evaluate(metrics: PerfMetrics, limits: ResolvedLimits) -> list[Violation]:
    """Every limit the run broke, with its severity.

    Severity: latency, CPU and memory are minor up to +20 % over the limit, significant beyond; the error
    rate is minor up to 2 × its limit, significant beyond (spec cycle 8); rps is minor down to 80 % of the
    minimum. A figure that was not measured breaks nothing (the score says it was not measured).
    """
    seen = measured(metrics)
    found = [
        _above(name, name[len("latency") :].lower(), seen[name], limits.get(name), ms)
        for name in ("latencyP50", "latencyP95", "latencyP99")
    ]
    found.append(_above("cpuUsageMax", "CPU", seen["cpuUsageMax"], limits.get("cpuUsageMax"), _percent))
    found.append(
        _above("memoryUsageMax", "memory", seen["memoryUsageMax"], limits.get("memoryUsageMax"), _megabytes)
    )
    found.append(_error_rate(seen["errorRateMax"], limits.get("errorRateMax")))
    found.append(_rps(seen["rpsMin"], limits.get("rpsMin")))
    return [v for v in found if v is not None]


def measured(metrics: PerfMetrics) -> dict[str, float | None]:
    """What the run measured for each limit, by limit name (``LIMIT_METRICS``)."""
    latency = metrics.latency
    return {
        "latencyP50": latency.p50 if latency else None,
        "latencyP95": latency.p95 if latency else None,
        "latencyP99": latency.p99 if latency else None,
        "rpsMin": metrics.rps,
        "errorRateMax": metrics.error_rate,
        "cpuUsageMax": metrics.cpu_usage_pct,
        "memoryUsageMax": metrics.memory_usage_mb,
    }


def _percent(value: float) -> str:
    return f"{number(value)} %"


def _megabytes(value: float) -> str:
    return f"{number(value)} MB"


def _above(
    limit_name: str, label: str, observed: float | None, limit: Limit | None, show: Callable[[float], str]
) -> Violation | None:
    if observed is None or limit is None or observed <= limit.value:
        return None
    excess = observed / limit.value - 1.0
    return Violation(
        metric=VIOLATED_AS[limit_name],
        limit=limit.value,
        observed=observed,
        severity="minor" if excess <= MINOR_LATENCY_EXCESS else "significant",
        source=limit.source,
        message=(
            f"{label} {show(observed)} > {show(limit.value)} limit ({signed_pct_spaced(excess)}) "
            f"from {limit.source}"
        ),
    )


def _error_rate(observed: float | None, limit: Limit | None) -> Violation | None:
    if observed is None or limit is None or observed <= limit.value:
        return None
    factor = observed / limit.value if limit.value > 0 else float("inf")
    times = f"{factor:.1f}×" if factor != float("inf") else "any error"
    return Violation(
        metric=VIOLATED_AS["errorRateMax"],
        limit=limit.value,
        observed=observed,
        severity="minor" if factor <= MINOR_ERROR_FACTOR else "significant",
        source=limit.source,
        message=f"error rate {pct(observed)} > {pct(limit.value)} limit ({times}) from {limit.source}",
    )


def _rps(observed: float | None, limit: Limit | None) -> Violation | None:
    if observed is None or limit is None or observed >= limit.value:
        return None
    share = observed / limit.value
    return Violation(
        metric=VIOLATED_AS["rpsMin"],
        limit=limit.value,
        observed=observed,
        severity="minor" if share >= MINOR_RPS_SHARE else "significant",
        source=limit.source,
        message=(
            f"rps {number(observed)} < {number(limit.value)} minimum ({signed_pct_spaced(share - 1.0)}) "
            f"from {limit.source}"
        ),
    )
