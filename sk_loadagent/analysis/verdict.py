"""The status of a test (pass / warning / degraded / fail), why, and whether a CI gate lets it through.

``classify`` is the only place a status is set. The judge (``suite.judge.evaluate_test``) gathers its inputs;
every rule that decides a status is applied here, in this order, and each adds a reason:

1. the score band of the written (2-decimal) score: ≥ 0.90 pass, 0.75–0.89 warning, 0.50–0.74 degraded,
   < 0.50 fail;
2. the threshold rules of spec cycle 8 over the violations Studio does not ignore: no violation → pass;
   one minor → warning; one significant or two or more minor → degraded; two or more of which at least
   one is significant → fail;
3. errors fail (spec cycle 11): an error rate above ``errorRateMax`` by more than the significant margin
   (twice the limit), or a run in which no request succeeded, is fail whatever the score;
4. an infrastructure failure (``outage.detect_infrastructure_failure``) is fail; it is not judged against
   the baseline nor the previous run (an outage measures no performance);
5. what the test type itself found (``type_reading``): a degrading soak → degraded; a stress test whose
   breaking point is below its design limit → fail;
6. the regression rules of cycles 8, 11 and 17 against the baseline (unless Studio ignores it): a
   statistically confirmed regression (``BaselineComparison.regressed``) → at least degraded; confirmed
   with a p95 change above twice the tolerance while any threshold is violated → fail. The run is also
   flagged a regression when the score fell by more than 0.15 or the status went from pass to degraded
   or fail, against the baseline or against the previous run of the series. With ``warnOnRegression``
   (cycle 9) this rule makes the run a warning at most: the regression is flagged and explained but does
   not fail the gate (the other rules still apply);
   Cycle 10's alerting rule: a p95 at least ``P95_ALERT`` (+30 %) above the baseline's, significantly so
   (the interval's lower bound above 0), is at least degraded even when the move is not confirmed past
   the tolerance; the alert then names the Resiliency agent. Cycle 11's span-level anomaly (a new
   bottleneck span whose self time rose significantly, ``spans.span_anomaly``) is at least degraded too,
   and a regression;
7. an infrastructure anomaly (``retry.detect_infrastructure_anomaly``) on a run that would pass makes it
   a warning: a pass is never retried, so the anomaly is reported this way;
8. a Studio ``scoreOverride`` replaces the status, last: it is a reviewer's explicit decision.

The README's "How a verdict comes about" walks through a worked example that a test computes with these
functions (``tests/analysis/test_readme_examples.py``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sk_loadagent.models.metrics import (
    STATUS_ORDER,
    BaselineComparison,
    PerfMetrics,
    Status,
    Violation,
    worse,
)

from ._format import pct, signed_pct
from .thresholds import VIOLATED_AS

SCORE_DROP = 0.15
P95_ALERT = 0.30  # cycle 10: p95 +30 % vs the baseline marks the run degraded and alerts the Resiliency agent
RESILIENCY_ALERTED = "the Resiliency agent is alerted"
_BANDS: tuple[tuple[float, Status, str], ...] = (
    (0.90, "pass", "≥ 0.90"),
    (0.75, "warning", "0.75–0.89"),
    (0.50, "degraded", "0.50–0.74"),
    (0.0, "fail", "< 0.50"),
)
# Studio's ``ignore`` names -> the limits whose violations they silence; "baseline" drops the comparison.
_IGNORED_LIMITS: dict[str, tuple[str, ...]] = {
    "cpu": ("cpuUsageMax",),
    "memory": ("memoryUsageMax",),
    "latency": ("latencyP50", "latencyP95", "latencyP99"),
    "rps": ("rpsMin",),
    "errorRate": ("errorRateMax",),
}


@dataclass(frozen=True)
class Verdict:
    """The status, its reasons, the regression flag and the violations that counted (Studio ignores
    removed)."""

    status: Status
    reasons: list[str]
    regression: bool
    violations: tuple[Violation, ...] = ()


@dataclass(frozen=True)
class PreviousRun:
    """The latest stored run of the series, for the cycle 11 rule against the previous build."""

    run_id: str
    score: float | None
    status: str | None


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
    ignore: Collection[str] = frozenset(),
    error_rate: float | None = None,
    infrastructure_failure: str | None = None,
    previous: PreviousRun | None = None,
    infrastructure_anomaly: str | None = None,
    override: Status | None = None,
    warn_on_regression: bool = False,
    span_anomaly: str | None = None,
) -> Verdict:
    """The status, its reasons and the regression flag, by the rules of the module docstring in their order.

    ``violations`` are every limit the run broke; ``ignore`` holds Studio's ignore names (``latency``,
    ``rps``, ``errorRate``, ``cpu``, ``memory``, ``baseline``). ``tolerance`` is the p95 regression
    tolerance that applied (``ResolvedLimits.tolerance.p95``); ``error_rate`` the run's error rate;
    ``infrastructure_failure`` and ``infrastructure_anomaly`` the findings of the analysis detectors;
    ``previous`` the latest stored run of the series; ``override`` a Studio ``scoreOverride`` status;
    ``warn_on_regression`` caps rule 6 at warning (cycle 9's ``warnOnRegression``); ``span_anomaly`` is
    ``spans.span_anomaly``'s finding."""
    band, label = score_band(score)
    reasons = [f"score {written_score(score):.2f} is in the {band} band ({label})"]
    counted = _counted(violations, ignore)
    status = worse(band, threshold_status(counted))
    reasons.append(_violation_reason(counted))
    if len(counted) < len(violations):
        silenced = "; ".join(v.message for v in violations if v not in counted)
        reasons.append(f"ignored by a Studio annotation: {silenced}")
    errors_fail = _errors_fail(counted, error_rate)
    if errors_fail is not None:
        status = "fail"
        reasons.append(errors_fail)
    if infrastructure_failure is not None:
        status = "fail"
        reasons.append(f"{infrastructure_failure}: fail")
    if reading is not None:
        status = worse(status, reading.status)
        reasons.append(reading.reason)
    status, regression = _history_readings(
        status,
        reasons,
        score,
        counted,
        comparison,
        tolerance,
        ignore,
        infrastructure_failure,
        previous,
        warn_on_regression,
    )
    if span_anomaly is not None and infrastructure_failure is None:
        capped: Status = "warning" if warn_on_regression else "degraded"
        status = worse(status, capped)
        reasons.append(f"{span_anomaly}: at least {capped} (a span-level anomaly, cycle 11)")
        regression = True
    if status == "pass" and infrastructure_anomaly is not None:
        status = "warning"
        reasons.append(f"{infrastructure_anomaly}: a pass with an infrastructure anomaly is a warning")
    if override is not None:
        reasons.append(f"status set to {override} by a Studio annotation (scoreOverride)")
        status = override
    return Verdict(status, reasons, regression, tuple(counted))


def _counted(violations: Sequence[Violation], ignore: Collection[str]) -> list[Violation]:
    """The violations whose limits Studio does not ignore."""
    dropped = {VIOLATED_AS[limit] for name in ignore for limit in _IGNORED_LIMITS.get(name, ())}
    return [v for v in violations if v.metric not in dropped]


def _errors_fail(violations: Sequence[Violation], error_rate: float | None) -> str | None:
    """Spec cycle 11: a high error rate is a failure condition, whatever the score."""
    if error_rate is not None and error_rate >= 1.0:
        return "no request succeeded (error rate 100 %): fail"
    for v in violations:
        if v.metric == VIOLATED_AS["errorRateMax"] and v.severity == "significant":
            return (
                f"error rate {pct(v.observed)} is more than twice the {pct(v.limit)} errorRateMax "
                "(significant): fail"
            )
    return None


def _history_readings(
    status: Status,
    reasons: list[str],
    score: float,
    violations: Sequence[Violation],
    comparison: BaselineComparison | None,
    tolerance: float,
    ignore: Collection[str],
    infrastructure_failure: str | None,
    previous: PreviousRun | None,
    warn_on_regression: bool = False,
) -> tuple[Status, bool]:
    """The regression readings against the baseline and the previous run (rule 6); appends reasons."""
    if infrastructure_failure is not None:
        if comparison is not None or previous is not None:
            reasons.append(
                "not judged against the baseline or the previous run: an outage measures no performance"
            )
        return status, False
    regression = False
    if comparison is not None and "baseline" in ignore:
        reasons.append("the baseline comparison is ignored by a Studio annotation")
    elif comparison is not None and not comparison.exploratory:
        regression_status, regression_reasons = _regression(comparison, violations, tolerance)
        reasons += regression_reasons
        if warn_on_regression and STATUS_ORDER[regression_status] > STATUS_ORDER["warning"]:
            regression_status = "warning"
            reasons.append("warnOnRegression: the regression is a warning and does not fail the gate")
        status = worse(status, regression_status)
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
    # The previous run is judged separately unless it is the baseline and that already found a regression.
    judged_as_baseline = (
        regression
        and previous is not None
        and comparison is not None
        and previous.run_id == comparison.baseline_run_id
    )
    if previous is not None and not judged_as_baseline:
        since = regression_since(previous.run_id, previous.score, previous.status, score, status)
        if since is not None:
            reasons.append(f"{since}: regression")
            regression = True
    return status, regression


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
        alert = p95_alert(comparison, tolerance)
        if alert is not None:
            return "degraded", [f"{alert}: at least degraded"]
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
    if comparison.moved_steps:
        reasons.append(f"the step that moved most: {comparison.moved_steps[0]}")
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


def p95_alert(comparison: BaselineComparison | None, tolerance: float = 0.25) -> str | None:
    """Cycle 10's rule: p95 at least +30 % above the baseline's (or the configured p95 tolerance, when a
    scope relaxed it beyond that) with the interval's lower bound above 0."""
    if comparison is None or comparison.exploratory:
        return None
    delta = _p95_delta(comparison)
    interval = comparison.delta_latency_p95_interval
    low = _percent(interval.low) if interval is not None else None
    limit = max(P95_ALERT, tolerance)
    if delta is None or delta < limit or low is None or low <= 0:
        return None
    return (
        f"p95 {signed_pct(delta)}{_interval(comparison)} vs the baseline is over the {signed_pct(limit)} "
        f"alerting rule (cycle 10); {RESILIENCY_ALERTED}"
    )


def _percent(text: str | None) -> float | None:
    match = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*%\s*", text or "")
    return float(match.group(1)) / 100 if match else None


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


def regression_since(
    run_id: str,
    before_score: float | None,
    before_status: str | None,
    score: float | None,
    status: str | None,
) -> str | None:
    """Why a run scoring ``score`` with ``status`` regressed since run ``run_id`` (spec cycle 11: the written
    score fell by more than 0.15, or the status went from pass to degraded or fail), or None."""
    reasons = []
    fell = score_fell(before_score, score)
    if fell:
        reasons.append(fell)
    if fell_from_pass(before_status, status):
        reasons.append(f"status went from pass to {status}")
    if not reasons:
        return None
    return " and ".join(reasons) + f" since run {run_id}"


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


def gate_problems(
    test: GateEntry | PerfMetrics, *, min_score: float | None = None, fail_on_degraded: bool = False
) -> list[str]:
    """Why one test fails the gate (empty when it passes or is excluded from the gate): the rules of
    ``gate`` for a single test, for reports that show each test's outcome (JUnit, CI summaries)."""
    entry = test if isinstance(test, GateEntry) else GateEntry.of(test)
    return [] if entry.excluded else _gate_problems(entry, min_score, fail_on_degraded)


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
