"""Cycle 10/11 rules on the service's own signals: p95 +30 % vs the baseline is at least degraded and names
the Resiliency agent; a new bottleneck span is a span-level anomaly; CPU above 80 % for more than 10 s
suggests a warmed-cache retry."""

from __future__ import annotations

import numpy as np

from sk_loadagent.analysis._resources import resource_usage
from sk_loadagent.analysis.verdict import classify, p95_alert
from sk_loadagent.measurements import ResourceSamples
from sk_loadagent.models.metrics import BaselineComparison, Interval, PerfMetrics, ResourceUsage
from sk_loadagent.models.trace_summary import Bottleneck, Operation, TraceSummary
from sk_loadagent.publish.text import suggested_actions


def _comparison(current: float, low: str) -> BaselineComparison:
    return BaselineComparison(
        p95_latency_baseline=100.0,
        p95_current=current,
        delta_latency_p95=f"+{round(current - 100)}%",
        delta_latency_p95_interval=Interval(low=low, high="+60%", level=0.95),
        regressed=False,
        exploratory=False,
    )


def test_p95_thirty_percent_over_the_baseline_is_degraded_and_alerts_the_resiliency_agent() -> None:
    comparison = _comparison(131, "+8%")
    verdict = classify(0.95, [], comparison)
    assert verdict.status == "degraded"
    assert verdict.reasons[-1] == (
        "p95 +31% [+8%, +60%] vs the baseline is over the +30% alerting rule (cycle 10); the Resiliency "
        "agent is alerted: at least degraded"
    )
    judged = PerfMetrics(baseline_comparison=comparison, status="degraded", reasons=verdict.reasons)
    assert suggested_actions(judged)[-1] == f"Notify ResiliencyAgent: {verdict.reasons[-1]}"
    # a scope that relaxed its p95 tolerance beyond +30 % moves the rule with it
    assert p95_alert(comparison, tolerance=0.5) is None
    # not significant (the interval reaches 0), or under +30 %: no alert
    assert p95_alert(_comparison(131, "-2%")) is None
    assert p95_alert(_comparison(125, "+5%")) is None
    assert classify(0.95, [], _comparison(125, "+5%")).status == "pass"


def _summary(new: bool, regressed: bool) -> TraceSummary:
    op = Operation(
        service="checkout",
        name="ChargeCard",
        count=10,
        p50_ms=20,
        p95_ms=25,
        self_p95_ms=25,
        share=0.7,
        share_at_p95=0.75,
        baseline_self_p95_ms=5.0,
        self_delta_vs_baseline="+400%",
        self_regressed=regressed,
    )
    bottleneck = Bottleneck(
        service="checkout",
        name="ChargeCard",
        share_at_p95=0.75,
        limit=0.9,
        over_limit=False,
        new_vs_baseline=new,
        baseline_bottleneck="checkout / ValidateCart",
    )
    return TraceSummary(operations=[op], bottleneck=bottleneck, bottleneck_detected=new)


def test_a_new_bottleneck_span_is_a_span_level_anomaly() -> None:
    from sk_loadagent.analysis.spans import span_anomaly

    anomaly = span_anomaly(_summary(new=True, regressed=True))
    assert anomaly == (
        "new bottleneck span checkout / ChargeCard: self time p95 +400% vs the baseline (5 → 25 ms; was "
        "checkout / ValidateCart)"
    )
    verdict = classify(0.97, [], None, span_anomaly=anomaly)
    assert (verdict.status, verdict.regression) == ("degraded", True)
    assert verdict.reasons[-1] == f"{anomaly}: at least degraded (a span-level anomaly, cycle 11)"
    assert classify(0.97, [], None, span_anomaly=anomaly, warn_on_regression=True).status == "warning"
    assert span_anomaly(_summary(new=True, regressed=False)) is None
    assert span_anomaly(_summary(new=False, regressed=True)) is None


def test_cpu_above_80_percent_for_more_than_10_seconds_suggests_a_warmed_cache_retry() -> None:
    t = np.arange(0.0, 20.0, 1.0)
    cpu = np.where((t >= 4) & (t <= 16), 95.0, 30.0)
    samples = ResourceSamples(pid=7, t=t, cpu_pct=cpu, rss_mb=np.full(t.size, 100.0), cpu_quota_cores=1.0)
    usage = resource_usage(samples, 0.0, 20.0)
    assert usage.cpu_high_seconds == 13.0
    actions = suggested_actions(PerfMetrics(resources=usage, status="degraded"))
    assert "Retry with a warmed cache: target CPU above 80 % for 13 s (more than 10 s)" in actions
    short = suggested_actions(PerfMetrics(resources=ResourceUsage(cpu_high_seconds=9.0), status="degraded"))
    assert not any(a.startswith("Retry with a warmed cache") for a in short)
