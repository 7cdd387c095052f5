"""Retry triggers, strategies, adjustments and the anomaly detectors (spec cycle 18)."""

from __future__ import annotations

import pytest

from sk_loadagent.analysis import (
    detect_cold_start,
    detect_cpu_spike,
    detect_generator_saturation,
    detect_infrastructure_anomaly,
    retry_decision,
)
from sk_loadagent.models.metrics import (
    GeneratorStats,
    PerfMetrics,
    PhaseSummary,
    ResourceUsage,
    TimelinePoint,
    Violation,
)


def _metrics(status: str = "pass", score: float = 0.95, **fields) -> PerfMetrics:
    values = {"target_rps": 100.0, "test_duration": 120.0, **fields}
    return PerfMetrics(status=status, performance_score=score, **values)


def _decide(
    metrics: PerfMetrics,
    *,
    attempt: int = 0,
    retry_on_fail: bool = False,
    flaky: bool = False,
    anomaly: str | None = None,
):
    return retry_decision(
        metrics,
        attempt=attempt,
        retry_on_fail=retry_on_fail,
        history_flaky=flaky,
        infrastructure_anomaly=anomaly,
    )


def test_passing_run_is_not_retried():
    d = _decide(_metrics())
    assert (d.retry, d.trigger, d.strategy, d.reason) == (False, None, None, "no retry trigger (status pass)")


def test_fail_is_reproduced_with_a_staged_retry():
    d = _decide(_metrics("fail", 0.55))
    assert (d.retry, d.trigger, d.strategy) == (True, "status fail", "staged")
    assert d.adjustments == {"duration": "30s"}  # 120 s / 4
    assert d.cooldown_s == 30.0
    assert d.reason == "status fail: staged retry 1 of 3 (duration 30s)"


def test_staged_duration_is_at_least_15_seconds():
    d = _decide(_metrics("fail", 0.3, test_duration=40.0))
    assert d.adjustments == {"duration": "15s"}


def test_low_score_triggers_a_retry():
    d = _decide(_metrics("degraded", 0.45))
    assert (d.retry, d.trigger, d.strategy) == (True, "score 0.45 < 0.50", "staged")


def test_spike_test_missing_by_a_small_margin_is_throttled():
    violation = Violation(
        metric="latencyP95", limit=500, observed=560, severity="minor", source="default", message=""
    )
    d = _decide(_metrics("fail", 0.6, test_type="spike", violations=[violation, violation]))
    assert (d.strategy, d.adjustments) == ("throttled", {"loadFactor": 0.6, "rps": 60.0})
    assert d.trigger == "status fail (spike test missed by 12 %)"


def test_degraded_with_flakiness_is_memory_guided():
    d = _decide(_metrics("degraded", 0.7), flaky=True)
    assert (d.retry, d.strategy, d.cooldown_s) == (True, "memory-guided", 60.0)
    assert _decide(_metrics("degraded", 0.7)).retry is False


def test_retry_on_fail_retries_degraded_runs_and_throttles_the_second_attempt():
    first = _decide(_metrics("degraded", 0.7), retry_on_fail=True)
    assert (first.trigger, first.strategy) == ("retryOnFail", "standard")
    second = _decide(_metrics("degraded", 0.7), retry_on_fail=True, attempt=1)
    assert (second.strategy, second.adjustments["rps"]) == ("throttled", 60.0)


@pytest.mark.parametrize(
    ("anomaly", "strategy", "adjustments", "cooldown"),
    [
        (
            "cold start: the first 3 windows' p95 (400 ms) is 8.0× the rest (50 ms)",
            "warm-start",
            {"warmup": "10s"},
            0.0,
        ),
        ("generator saturation: 3.0 % late starts", "throttled", {"loadFactor": 0.6, "rps": 60.0}, 30.0),
        ("target CPU spike: peak 98 % of quota vs average 40 %", "standard", {}, 60.0),
    ],
)
def test_infrastructure_anomalies_choose_their_strategy(anomaly, strategy, adjustments, cooldown):
    d = _decide(_metrics("degraded", 0.7), anomaly=anomaly)
    assert (d.retry, d.strategy, d.adjustments, d.cooldown_s) == (True, strategy, adjustments, cooldown)
    assert d.trigger == f"infrastructure anomaly: {anomaly}"


def test_retries_stop_after_max_attempts_and_escalate():
    d = _decide(_metrics("fail", 0.3), attempt=3)
    assert (d.retry, d.trigger) == (False, "status fail")
    assert d.reason == "status fail, but 3 retries are used up: escalate (regression alert)"


def test_retry_info_for_perf_metrics():
    info = _decide(_metrics("fail", 0.3)).as_retry_info(1, "fail")
    assert info.to_wire() == {
        "retryAttempt": 1,
        "originalStatus": "fail",
        "trigger": "status fail",
        "strategy": "staged",
        "adjustments": {"duration": "30s"},
        "reason": "status fail: staged retry 1 of 3 (duration 30s)",
        "outcome": "pending",
    }


def _timeline(p95s, phase="steady"):
    return [TimelinePoint(t=float(i), rps=10, p95=v, phase=phase) for i, v in enumerate(p95s)]


def test_cold_start_detection():
    cold = _timeline([400, 380, 300] + [50] * 10)
    assert detect_cold_start(cold) == "cold start: the first 3 windows' p95 (380 ms) is 7.6× the rest (50 ms)"
    assert detect_cold_start(_timeline([60, 55, 52] + [50] * 10)) is None
    assert detect_cold_start(_timeline([400, 380, 300, 50, 50])) is None  # too few windows to tell
    assert detect_cold_start(_timeline([3, 3, 3] + [0.5] * 10)) is None  # 6× but only 2.5 ms: timer noise
    warmup_only = _timeline([400, 380, 300], phase="warmup") + _timeline([50] * 10)
    assert detect_cold_start(warmup_only, measured_phases={"steady"}) is None


def _generator(**fields):
    values = {"requests": 1000, "cpu_seconds": 1, "cpu_pct": 10, "late_starts": 0, "dropped": 0, "workers": 1}
    values.update(fields)
    return GeneratorStats(**values)


def test_generator_saturation_detection():
    assert detect_generator_saturation(_metrics(generator=_generator(saturated=False))) is None
    saturated = _metrics(generator=_generator(late_starts=30, dropped=2, cpu_pct=95, saturated=True))
    assert (
        detect_generator_saturation(saturated)
        == "generator saturation: 3.0 % late starts, 2 dropped, generator CPU 95 %"
    )


def test_cpu_spike_detection():
    spike = _metrics(resources=ResourceUsage(cpu_avg_pct=40, cpu_peak_pct=98))
    assert detect_cpu_spike(spike) == "target CPU spike: peak 98 % of quota vs average 40 %"
    assert (
        detect_cpu_spike(_metrics(resources=ResourceUsage(cpu_avg_pct=92, cpu_peak_pct=99))) is None
    )  # sustained
    assert detect_cpu_spike(_metrics()) is None


def test_infrastructure_anomaly_uses_measured_windows():
    metrics = _metrics(
        timeline=_timeline([400, 380, 300] + [50] * 10),
        phases=[PhaseSummary(name="steady", start=0, end=13, measured=True)],
    )
    anomaly = detect_infrastructure_anomaly(metrics)
    assert anomaly is not None
    assert anomaly.startswith("cold start")
    assert detect_infrastructure_anomaly(_metrics()) is None
