"""The status of a test (pass / warning / degraded / fail), why, and whether a CI gate lets it through.

The final status is the worst of three readings:

(a) the score band of the written (2-decimal) score: ≥ 0.90 pass, 0.75–0.89 warning, 0.50–0.74 degraded,
    < 0.50 fail;
(b) the threshold rules of spec cycle 8: no violation → pass; one minor → warning; one significant or
    two or more minor → degraded; two or more of which at least one is significant → fail;
(c) the regression rules of cycles 8, 11 and 17: a statistically confirmed regression
    (``BaselineComparison.regressed``) → at least degraded; confirmed with a p95 change above twice the
    tolerance while any threshold is violated → fail;
(d) what the test type itself found (``type_reading``): a soak that is degrading (a significant latency
    or memory slope) → degraded; a stress test whose breaking point is below its design limit → fail.

It is also flagged as a regression (cycle 11) when the score fell by more than 0.15 against the
baseline's, or the baseline passed and this run is degraded or failed.

Worked example (the spike test of spec cycle 4)::

    score 0.58; violations: p95 810 ms > 800 ms limit (+1 %) from default (minor);
    comparison: p95 600 → 810 ms, +35% [+20%, +41%], regressed, confidence 0.92, tolerance +25%

    (a) 0.58 is in the degraded band                                  → degraded
    (b) one minor violation                                           → warning
    (c) confirmed regression → at least degraded; +35% is not above
        2 × 25%, so not fail                                          → degraded
    status = worst(degraded, warning, degraded) = degraded, regression = true

    reasons:
      - score 0.58 is in the degraded band (0.50–0.74)
      - 1 threshold violation (minor): p95 810 ms > 800 ms limit (+1 %) from default
      - p95 regressed +35% [+20%, +41%] vs the baseline (confidence 0.92): at least degraded
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sk_loadagent.models.metrics import BaselineComparison, PerfMetrics, Status, Violation, worse

from ._format import signed_pct

SCORE_DROP = 0.15
_BANDS: tuple[tuple[float, Status, str], ...] = (
    (0.90, "pass", "≥ 0.90"),
    (0.75, "warning", "0.75–0.89"),
    (0.50, "degraded", "0.50–0.74"),
    (0.0, "fail", "< 0.50"),
)


@dataclass(frozen=True)
class Verdict:
    status: Status
    reasons: list[str]
    regression: bool


def written_score(score: float) -> float:
    """The score as perf-metrics.json shows it; bands are read from this so a reader can check them."""
    return round(score + 1e-9, 2)


def score_band(score: float) -> tuple[Status, str]:
    value = written_score(score)
    for floor, status, label in _BANDS:
        if value >= floor:
            return status, label
    return "fail", "< 0.50"


def threshold_status(violations: Sequence[Violation]) -> Status:
    """Spec cycle 8: none → pass; one minor → warning; one significant or ≥ 2 minor → degraded;
    ≥ 2 with at least one significant → fail."""
    significant = sum(1 for v in violations if v.severity == "significant")
    if not violations:
        return "pass"
    if len(violations) >= 2:
        return "fail" if significant else "degraded"
    return "degraded" if significant else "warning"


@dataclass(frozen=True)
class TypeReading:
    status: Status
    reason: str


def type_reading(metrics: PerfMetrics) -> TypeReading | None:
    """The verdict of a soak's degradation or a stress test's breaking point; None for other tests."""
    soak = metrics.soak
    if soak is not None:
        if soak.degrading:
            return TypeReading("degraded", f"soak {soak.verdict} → degraded")
        return TypeReading("pass", f"soak {soak.verdict}")
    stress = metrics.stress
    if stress is None or stress.design_limit_rps is None:
        return None
    design, held = stress.design_limit_rps, stress.breaking_point_rps
    broke = (
        f"broke at {stress.first_failed_rps:g} rps ({stress.failure_mode or 'unspecified'})"
        if stress.first_failed_rps is not None
        else "did not break up to the highest step"
    )
    if held is None:
        return TypeReading("fail", f"stress: no step held; {broke}, design limit {design:g} rps → fail")
    if held < design:
        return TypeReading(
            "fail", f"stress: held up to {held:g} rps, below the design limit {design:g} rps; {broke} → fail"
        )
    return TypeReading("pass", f"stress: held up to {held:g} rps (design limit {design:g} rps); {broke}")


def classify(
    score: float,
    violations: Sequence[Violation],
    comparison: BaselineComparison | None,
    *,
    tolerance: float = 0.25,
    reading: TypeReading | None = None,
) -> Verdict:
    """The status, its reasons and the regression flag (see the module docstring). ``tolerance`` is the
    p95 regression tolerance that applied (``ResolvedLimits.tolerance.p95``)."""
    band, label = score_band(score)
    reasons = [f"score {written_score(score):.2f} is in the {band} band ({label})"]
    status = band
    limits = threshold_status(violations)
    status = worse(status, limits)
    reasons.append(_violation_reason(violations))
    if reading is not None:
        status = worse(status, reading.status)
        reasons.append(reading.reason)
    regression = False
    if comparison is not None and not comparison.exploratory:
        regression_status, regression_reasons = _regression(comparison, violations, tolerance)
        status = worse(status, regression_status)
        reasons += regression_reasons
        regression = bool(comparison.regressed)
        drop = _score_drop(score, comparison)
        if drop:
            reasons.append(drop)
            regression = True
        if fell_from_pass(comparison.baseline_status, status):
            reasons.append(f"status went from pass (baseline) to {status}: regression")
            regression = True
    elif comparison is not None:
        reasons.append("no baseline: exploratory, nothing to regress against")
    return Verdict(status, reasons, regression)


def _violation_reason(violations: Sequence[Violation]) -> str:
    if not violations:
        return "all thresholds met"
    kinds = sorted({v.severity for v in violations}, reverse=True)
    what = "; ".join(v.message for v in violations)
    plural = "s" if len(violations) > 1 else ""
    return f"{len(violations)} threshold violation{plural} ({', '.join(kinds)}): {what}"


def _p95_delta(comparison: BaselineComparison) -> float | None:
    base, current = comparison.p95_latency_baseline, comparison.p95_current
    if base is None or current is None or base <= 0:
        return None
    return current / base - 1.0


def _regression(
    comparison: BaselineComparison, violations: Sequence[Violation], tolerance: float
) -> tuple[Status, list[str]]:
    if not comparison.regressed:
        spelled = comparison.delta_latency_p95
        if spelled is None:
            return "pass", ["no confirmed regression against the baseline"]
        return "pass", [f"p95 {spelled}{_interval(comparison)} vs the baseline: no confirmed regression"]
    reasons = []
    for name, metric in (comparison.metrics or {}).items():
        if metric.regressed and name != "p99":
            confidence = f" (confidence {metric.confidence:.2f})" if metric.confidence is not None else ""
            interval = f" [{metric.interval.low}, {metric.interval.high}]" if metric.interval else ""
            reasons.append(
                f"{name} regressed {metric.delta}{interval} vs the baseline{confidence}: at least degraded"
            )
    if not reasons:
        confidence = f" (confidence {comparison.confidence:.2f})" if comparison.confidence is not None else ""
        reasons.append(
            f"p95 regressed {comparison.delta_latency_p95}{_interval(comparison)} vs the baseline"
            f"{confidence}: at least degraded"
        )
    delta = _p95_delta(comparison)
    p95_confirmed = (comparison.metrics or {}).get("p95")
    p95_regressed = p95_confirmed.regressed if p95_confirmed is not None else True
    if p95_regressed and delta is not None and delta > 2 * tolerance and violations:
        reasons.append(
            f"p95 {signed_pct(delta)} is more than twice the {signed_pct(tolerance)} tolerance "
            "and a threshold is violated: fail"
        )
        return "fail", reasons
    return "degraded", reasons


def _interval(comparison: BaselineComparison) -> str:
    i = comparison.delta_latency_p95_interval
    return f" [{i.low}, {i.high}]" if i is not None else ""


def score_fell(before: float | None, now: float | None) -> str | None:
    """Spec cycle 11, first half: the written score fell by more than 0.15 (``"score fell 0.34 (1.00 →
    0.66)"``), else None."""
    if before is None or now is None:
        return None
    before, now = written_score(before), written_score(now)
    drop = round(before - now, 2)
    return f"score fell {drop:.2f} ({before:.2f} → {now:.2f})" if drop > SCORE_DROP else None


def fell_from_pass(before: str | None, now: str | None) -> bool:
    """Spec cycle 11, second half: the status went from pass to degraded or fail."""
    return before == "pass" and now in ("degraded", "fail")


def _score_drop(score: float, comparison: BaselineComparison) -> str | None:
    fell = score_fell(comparison.baseline_score, score)
    return f"{fell} vs the baseline, more than {SCORE_DROP}: regression" if fell else None


@dataclass(frozen=True)
class GateEntry:
    """One test as a CI gate sees it."""

    name: str
    status: str | None
    score: float | None
    excluded: bool = False

    @classmethod
    def of(cls, metrics: PerfMetrics) -> GateEntry:
        name = metrics.test_name or " ".join(p for p in (metrics.test_type, metrics.endpoint) if p) or "test"
        return cls(name, metrics.status, metrics.performance_score, bool(metrics.excluded_from_gate))


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]


def gate(
    tests: Sequence[GateEntry | PerfMetrics],
    *,
    min_score: float | None = None,
    fail_on_degraded: bool = False,
) -> GateResult:
    """Whether CI may proceed. Tests excluded from the gate (``excludedFromGate``, e.g. exploratory ones)
    do not count; ``fail`` always fails; ``degraded`` fails when ``fail_on_degraded``; a written score
    below ``min_score`` fails; a test without a status (it did not finish) fails."""
    entries = [t if isinstance(t, GateEntry) else GateEntry.of(t) for t in tests]
    reasons: list[str] = []
    failed = 0
    counted = 0
    for e in entries:
        if e.excluded:
            reasons.append(f"{e.name}: excluded from the gate (status {e.status or 'none'})")
            continue
        counted += 1
        problems = _gate_problems(e, min_score, fail_on_degraded)
        if problems:
            failed += 1
            reasons.append(f"{e.name}: " + "; ".join(problems))
        elif e.status in ("needs-review", "needs-optimization"):
            reasons.append(f"{e.name}: {e.status} (does not block the gate)")
    if counted == 0:
        reasons.insert(0, "no test counts toward the gate")
    else:
        reasons.insert(0, f"{counted - failed} of {counted} counted test(s) passed the gate")
    return GateResult(failed == 0, reasons)


def _gate_problems(e: GateEntry, min_score: float | None, fail_on_degraded: bool) -> list[str]:
    problems = []
    if e.status is None:
        problems.append("no status (the test did not finish)")
    elif e.status == "fail":
        problems.append("status fail")
    elif e.status == "degraded" and fail_on_degraded:
        problems.append("status degraded (failOnDegraded)")
    if min_score is not None:
        if e.score is None:
            problems.append(f"no score (min score {min_score:.2f})")
        elif written_score(e.score) < min_score:
            problems.append(f"score {written_score(e.score):.2f} < min score {min_score:.2f}")
    return problems
