"""Sentences for people: the Studio tile summary and the alert's reason and suggested actions."""

from __future__ import annotations

from sk_loadagent.analysis._resources import CPU_HIGH_PCT, CPU_HIGH_SECONDS
from sk_loadagent.analysis.spans import span_anomaly
from sk_loadagent.analysis.thresholds import VIOLATED_AS
from sk_loadagent.analysis.verdict import RESILIENCY_ALERTED
from sk_loadagent.models.metrics import PerfMetrics

_STATUS_WORDS = {
    "pass": "Passed.",
    "warning": "Passed with warnings.",
    "degraded": "Performance degraded.",
    "fail": "Failed.",
}


def ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def pct(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "no errors" if value == 0 else f"error rate {value * 100:.1f}%"


def _baseline_clause(test: PerfMetrics) -> str:
    comparison = test.baseline_comparison
    if comparison is None:
        return " Not compared with a baseline: exploratory run."
    if comparison.exploratory or comparison.p95_latency_baseline is None:
        return " No baseline yet: exploratory run."
    delta = comparison.delta_latency_p95 or "n/a"
    if comparison.regressed:
        arrow = "↑" if not delta.startswith("-") else "↓"
        return (
            f" p95 latency {arrow}{delta.lstrip('+-')} vs. baseline "
            f"({ms(comparison.p95_current)} vs {ms(comparison.p95_latency_baseline)})."
        )
    return f" Within baseline ({delta} p95)."


def _violation_clause(test: PerfMetrics) -> str:
    if not test.violations:
        return ""
    worst = sorted(test.violations, key=lambda v: v.severity != "significant")[0]
    more = len(test.violations) - 1
    extra = f" and {more} more limit{'s' if more > 1 else ''}" if more else ""
    return f" Broke {worst.message}{extra}."


def test_sentence(test: PerfMetrics) -> str:
    kind = (test.test_type or "load").capitalize()
    p95 = test.latency.p95 if test.latency else None
    rps = f"{test.rps:.0f} rps" if test.rps is not None else "n/a rps"
    where = test.endpoint or test.test_target or "?"
    head = f"{kind} test on {where}: p95 {ms(p95)} at {rps}, {pct(test.error_rate)}."
    if test.steps:  # a flow: its figures are its iterations'
        rate = f"{test.rps:.0f} iterations/s" if test.rps is not None else "n/a iterations/s"
        steps = f"{len(test.steps)} step{'s' if len(test.steps) != 1 else ''}"
        head = (
            f"{kind} test of flow {test.test_name} ({steps}): p95 {ms(p95)} per iteration "
            f"at {rate}, {pct(test.error_rate)}."
        )
    tail = _STATUS_WORDS.get(test.status or "", "")
    retry = ""
    if test.retry is not None and test.retry.outcome == "recovered":
        retry = " Recovered after retry."
    elif test.retry is not None and test.retry.outcome == "escalated":
        retry = " Escalated for review."
    return f"{head}{_baseline_clause(test)}{_violation_clause(test)} {tail}{retry}".replace("  ", " ").strip()


def tile_summary(suite: PerfMetrics) -> str:
    """The decisive test in one sentence, plus how the other tests of the suite went."""
    text = test_sentence(suite)
    others = [t for t in (suite.tests or []) if t.test_index != suite.test_index]
    if others:
        counts: dict[str, int] = {}
        for t in others:
            counts[t.status or "unknown"] = counts.get(t.status or "unknown", 0) + 1
        listed = ", ".join(f"{n} {s}" for s, n in counts.items())
        text += f" Other tests: {listed}."
    return text


def alert_reason(test: PerfMetrics) -> str:
    parts: list[str] = [test.infrastructure_failure] if test.infrastructure_failure else []
    comparison = test.baseline_comparison
    if comparison is not None and comparison.regressed:
        parts.append(f"p95 latency increased {comparison.delta_latency_p95} vs. baseline")
    significant = [v for v in test.violations or [] if v.severity == "significant"]
    for v in significant or (test.violations or [])[:1]:
        parts.append(v.message)
    if not parts and test.reasons:
        parts.append(test.reasons[0])
    return "; ".join(parts) or f"status {test.status}"


def suggested_actions(test: PerfMetrics) -> list[str]:
    actions: list[str] = []
    comparison = test.baseline_comparison
    broken = {v.metric for v in test.violations or []}

    def broke(*limits: str) -> bool:
        return any(VIOLATED_AS[limit] in broken for limit in limits)

    if test.generator is not None and test.generator.saturated:
        actions.append("Load generator was saturated: rerun with more --workers before trusting the result")
    if comparison is not None and comparison.regressed:
        actions.append("Compare with the baseline run and review the changes since it")
    if broke("errorRateMax"):
        actions.append("Inspect the failing responses (see errors in perf-metrics.json)")
    if broke("latencyP50", "latencyP95", "latencyP99"):
        actions.append("Review service timeouts, connection reuse and slow dependencies")
    if broke("cpuUsageMax", "memoryUsageMax"):
        actions.append("Check the target's CPU and memory profile (possible saturation or leak)")
    actions += _observability_actions(test)
    actions.append("Rerun with reduced RPS to confirm")
    alert = next((r for r in test.reasons or [] if RESILIENCY_ALERTED in r), None)  # the verdict's rule
    actions.append(f"Notify ResiliencyAgent: {alert}" if alert else "Notify ResiliencyAgent")
    return actions


def _observability_actions(test: PerfMetrics) -> list[str]:
    """Cycle 10's rules on the service's own signals: a new bottleneck span, a sustained high CPU."""
    actions: list[str] = []
    anomaly = span_anomaly(test.trace_summary)
    if anomaly is not None:
        actions.append(f"Analyze flamegraph or span trace: {anomaly}")
    high = test.resources.cpu_high_seconds if test.resources is not None else None
    if high is not None and high > CPU_HIGH_SECONDS:
        actions.append(
            f"Retry with a warmed cache: target CPU above {CPU_HIGH_PCT:g} % for {high:.0f} s "
            f"(more than {CPU_HIGH_SECONDS:g} s)"
        )
    return actions
