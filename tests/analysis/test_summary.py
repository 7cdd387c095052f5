"""summarize(): every figure checked against values computed by hand from the samples."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from sk_loadagent.analysis import summarize
from sk_loadagent.measurements import Outcome, Phase, ResourceSamples

T0 = 1_700_000_000.0


def _load_run(run_factory, starts_factory, *, complete: bool = True):
    """Warm-up 2 s (20 requests at 1 s each) + steady 10 s: 98 responses of 1..98 ms, 3 of them 5xx, and
    2 timeouts without a response."""
    warm = starts_factory(0, 2, 10)
    steady = starts_factory(2, 12, 10)
    steady_latency = np.concatenate([np.arange(1, 99) / 1000.0, [np.nan, np.nan]])
    rng = np.random.default_rng(3)
    order = rng.permutation(100)
    steady_latency = steady_latency[order]
    outcomes = np.full(100, Outcome.OK)
    outcomes[np.isnan(steady_latency)] = Outcome.TIMEOUT
    finite = np.flatnonzero(~np.isnan(steady_latency))
    outcomes[finite[:3]] = Outcome.HTTP_5XX
    return run_factory(
        np.concatenate([warm, steady]),
        np.concatenate([np.full(20, 1.0), steady_latency]),
        outcomes=np.concatenate([np.full(20, Outcome.OK), outcomes]),
        phases=[Phase("warmup", 0, 2, False, target_rps=10), Phase("steady", 2, 12, True, target_rps=10)],
        complete=complete,
    )


def test_figures_from_samples_are_nearest_rank_over_measured_phases(run_factory, starts_factory):
    m = summarize(_load_run(run_factory, starts_factory))
    assert m.latency is not None
    # 98 responses of 1..98 ms: ranks ceil(q*98) -> 49, 89, 94, 98 (warm-up's 1 s latencies excluded).
    assert (m.latency.p50, m.latency.p90, m.latency.p95, m.latency.p99) == pytest.approx((49, 89, 94, 98))
    assert (m.latency.min, m.latency.max, m.latency.mean) == pytest.approx((1, 98, 49.5))
    assert m.requests == 100
    # Throughput counts the 95 successful responses over the 10 measured seconds; the 3 5xx answers and the
    # 2 timeouts are failed requests, reported beside it.
    assert (m.rps, m.failed_rps) == pytest.approx((9.5, 0.5))
    assert m.target_rps == pytest.approx(10)
    assert m.error_rate == pytest.approx(0.05)
    assert m.errors == {"http5xx": 3, "timeout": 2}
    assert m.throughput_bytes == 100 * 150
    assert m.bytes_per_request == pytest.approx(150)
    assert m.test_duration == pytest.approx(10)
    assert m.test_start_time == datetime.fromtimestamp(T0 + 2, tz=UTC)
    assert m.measurement is not None
    assert (m.measurement.source, m.measurement.relative_error) == ("samples", 0.0)
    assert m.service_time is not None
    assert m.service_time.p95 == pytest.approx(94 * 0.9)
    assert m.performance_score is None
    assert m.status is None


def test_phase_and_timeline_figures_come_from_their_own_samples(run_factory, starts_factory):
    m = summarize(_load_run(run_factory, starts_factory))
    assert m.phases is not None
    warm, steady = m.phases
    assert (warm.name, warm.measured, warm.requests) == ("warmup", False, 20)
    assert warm.latency is not None
    assert warm.latency.p95 == pytest.approx(1000)
    assert steady.latency is not None
    assert steady.latency.p95 == pytest.approx(94)
    assert m.timeline is not None
    assert len(m.timeline) == 12
    assert [p.phase for p in m.timeline[:3]] == ["warmup", "warmup", "steady"]
    assert sum(p.errors for p in m.timeline) == 5
    assert all(p.in_flight == 3 for p in m.timeline)


def test_histogram_mode_matches_samples_within_the_relative_error(run_factory, starts_factory):
    exact = summarize(_load_run(run_factory, starts_factory))
    approx = summarize(_load_run(run_factory, starts_factory, complete=False))
    assert approx.measurement is not None
    assert (approx.measurement.source, approx.measurement.relative_error) == ("histogram", 0.01)
    assert exact.latency is not None
    assert approx.latency is not None
    for name in ("p50", "p90", "p95", "p99", "max", "min", "mean"):
        assert getattr(approx.latency, name) == pytest.approx(getattr(exact.latency, name), rel=0.0101)
    assert (approx.requests, approx.errors, approx.rps) == (exact.requests, exact.errors, exact.rps)


def test_p95_is_never_an_average_of_window_percentiles(run_factory, starts_factory):
    # Nine quiet windows at 10 ms and one stalled window at 1 s: 10 % of requests took 1 s, so the
    # nearest-rank p95 is 1000 ms; averaging the window p95s would claim 109 ms.
    starts = starts_factory(0, 10, 10)
    latency = np.where(starts >= 9, 1.0, 0.010)
    for complete in (True, False):
        m = summarize(
            run_factory(starts, latency, phases=[Phase("steady", 0, 10, True, 10)], complete=complete)
        )
        assert m.latency is not None
        assert m.latency.p95 == pytest.approx(1000, rel=0.0101)


def test_generator_shortfalls_mark_saturation_and_warn(run_factory, starts_factory, generator_factory):
    starts = starts_factory(0, 5, 10)
    generator = generator_factory(requests=50, late_starts=2, dropped=1, cpu_seconds=9.5, wall_seconds=10)
    run = run_factory(
        starts, np.full(50, 0.01), phases=[Phase("steady", 0, 5, True, 10)], generator=generator
    )
    run.warnings.append("engine: connection pool exhausted")
    m = summarize(run)
    assert m.generator is not None
    assert m.generator.saturated is True
    assert m.generator.cpu_pct == pytest.approx(95.0)
    assert m.warnings is not None
    text = " | ".join(m.warnings)
    assert "4.0 % of requests started more than 5 ms" in text
    assert "1 scheduled requests were dropped" in text
    assert "CPU at 95 % of one core" in text
    assert "engine: connection pool exhausted" in text


def test_generator_within_budget_is_not_saturated(run_factory, starts_factory, generator_factory):
    generator = generator_factory(requests=1000, late_starts=10, cpu_seconds=8.9, wall_seconds=10)
    run = run_factory(
        starts_factory(0, 5, 10), np.full(50, 0.01), phases=[Phase("s", 0, 5, True)], generator=generator
    )
    m = summarize(run)
    assert m.generator is not None
    assert m.generator.saturated is False
    assert m.warnings is None


def test_resources_over_the_measured_window(run_factory, starts_factory):
    t = np.arange(0, 12.01, 0.5)
    resources = ResourceSamples(
        pid=42,
        t=T0 + t,
        cpu_pct=np.where(t < 2, 200.0, 50.0),  # the warm-up's burst is outside the measured window
        rss_mb=100.0 + t,  # +1 MB per second
        cpu_quota_cores=2.0,
    )
    m = summarize(_load_run(run_factory, starts_factory), resources)
    assert m.cpu_usage_pct == pytest.approx(25.0)  # 50 % of one core out of a 2-core quota
    assert m.memory_usage_mb == pytest.approx(112.0)
    assert m.resources is not None
    assert m.resources.memory_slope_mb_per_min == pytest.approx(60.0)
    assert (m.resources.samples, m.resources.pid, m.resources.cpu_peak_pct) == (21, 42, pytest.approx(25.0))


def _spike_run(run_factory, starts_factory, recovery_ms: list[float]):
    parts, latency = [], []
    for a, b, rate, ms in [(0, 5, 10, 10.0), (5, 10, 50, 200.0)]:
        s = starts_factory(a, b, rate)
        parts.append(s)
        latency.append(np.full(s.size, ms / 1000))
    for k, ms in enumerate(recovery_ms):
        s = starts_factory(10 + k, 11 + k, 10)
        parts.append(s)
        latency.append(np.full(s.size, ms / 1000))
    phases = [
        Phase("baseline", 0, 5, False, target_rps=10),
        Phase("spike", 5, 10, True, target_rps=50),
        Phase("recovery", 10, 10 + len(recovery_ms), True, target_rps=10),
    ]
    return run_factory(
        np.concatenate(parts), np.concatenate(latency), phases=phases, extra={"testType": "spike"}
    )


def test_spike_recovery_time_is_from_spike_end_until_p95_stays_within_bound(run_factory, starts_factory):
    # Baseline p95 10 ms -> bound max(12, 15) = 15 ms. Window 13 s is back (11 ms) but 14 s bumps to 30 ms;
    # from 15 s on it stays at 10 ms: recovered 5 s after the spike ended at 10 s.
    m = summarize(_spike_run(run_factory, starts_factory, [100, 100, 100, 11, 30, 10, 10, 10, 10, 10]))
    assert m.spike is not None
    assert (m.spike.baseline_latency_ms, m.spike.spike_latency_ms) == (pytest.approx(10), pytest.approx(200))
    assert (m.spike.baseline_rps, m.spike.peak_rps) == (pytest.approx(10), pytest.approx(50))
    assert m.spike.recovered is True
    assert m.spike.recovery_time_ms == pytest.approx(5000)
    assert "15 ms" in m.spike.recovery_criterion
    assert "1.2 × baseline p95" in m.spike.recovery_criterion


def test_spike_that_never_settles_is_not_recovered(run_factory, starts_factory):
    m = summarize(_spike_run(run_factory, starts_factory, [100, 12, 12, 12, 40]))
    assert m.spike is not None
    assert (m.spike.recovered, m.spike.recovery_time_ms) == (False, None)


def test_spike_back_at_once_recovers_in_zero(run_factory, starts_factory):
    m = summarize(_spike_run(run_factory, starts_factory, [14, 10, 10]))
    assert m.spike is not None
    assert (m.spike.recovered, m.spike.recovery_time_ms) == (True, 0.0)


def _soak_run(run_factory, starts_factory, latency_ms_per_window):
    starts = starts_factory(0, 600, 2)
    window_index = (starts // 60).astype(int)
    latency = np.asarray(latency_ms_per_window)[window_index] / 1000.0
    return run_factory(
        starts, latency, phases=[Phase("steady", 0, 600, True, 2)], extra={"testType": "soak", "window": 60.0}
    )


def test_soak_rising_latency_is_degrading(run_factory, starts_factory):
    m = summarize(_soak_run(run_factory, starts_factory, [50 * (1 + 0.05 * k) for k in range(10)]))
    assert m.soak is not None
    assert len(m.soak.windows) == 10
    assert m.soak.window == 60.0
    assert m.soak.latency_slope_ms_per_min == pytest.approx(2.5)
    assert m.soak.latency_slope_p_value is not None
    assert m.soak.latency_slope_p_value < 0.01
    assert m.soak.degrading is True
    assert m.soak.verdict.startswith("degrading")


def test_soak_flat_latency_is_stable(run_factory, starts_factory):
    m = summarize(_soak_run(run_factory, starts_factory, [50.0] * 10))
    assert m.soak is not None
    assert m.soak.degrading is False
    assert m.soak.verdict.startswith("stable")


def test_soak_small_significant_drift_is_not_degrading(run_factory, starts_factory):
    # +0.5 % per window is significant but only +4.5 % over the run, under the 10 % drift rule.
    m = summarize(_soak_run(run_factory, starts_factory, [50 * (1 + 0.005 * k) for k in range(10)]))
    assert m.soak is not None
    assert m.soak.degrading is False


def test_soak_memory_growth_is_degrading(run_factory, starts_factory):
    rng = np.random.default_rng(1)
    t = np.arange(0, 600.1, 5.0)
    resources = ResourceSamples(
        pid=1,
        t=T0 + t,
        cpu_pct=np.full(t.size, 20.0),
        rss_mb=100 + 2 * t / 60 + rng.normal(0, 0.2, t.size),
        cpu_quota_cores=1.0,
    )
    m = summarize(_soak_run(run_factory, starts_factory, [50.0] * 10), resources)
    assert m.soak is not None
    assert m.soak.memory_slope_mb_per_min == pytest.approx(2.0, rel=0.05)
    assert m.soak.degrading is True
    assert "memory" in m.soak.verdict


def _stress_run(run_factory, starts_factory, records=None):
    parts, latency, outcomes = [], [], []
    for i, rate in enumerate([10, 20, 30]):
        s = starts_factory(5 * i, 5 * i + 5, rate)
        parts.append(s)
        latency.append(np.full(s.size, 0.02))
        o = np.full(s.size, Outcome.OK)
        if rate == 30:
            o[:20] = Outcome.HTTP_5XX
            o[20:25] = Outcome.TIMEOUT
        outcomes.append(o)
    phases = [
        Phase(f"step-{i + 1}", 5 * i, 5 * i + 5, True, target_rps=r) for i, r in enumerate([10, 20, 30])
    ]
    extra: dict[str, object] = {"testType": "stress"}
    if records is not None:
        extra["stress"] = records
    return run_factory(
        np.concatenate(parts),
        np.concatenate(latency),
        outcomes=np.concatenate(outcomes),
        phases=phases,
        extra=extra,
    )


def test_stress_report_from_engine_records(run_factory, starts_factory):
    records = [
        {"rps": 10.0, "achievedRps": 10.0, "p95Ms": 20.0, "errorRate": 0.0, "held": True, "reason": None},
        {"rps": 20.0, "achievedRps": 20.0, "p95Ms": 20.0, "errorRate": 0.0, "held": True, "reason": None},
        {
            "rps": 30.0,
            "achievedRps": 29.0,
            "p95Ms": 21.0,
            "errorRate": 0.1667,
            "held": False,
            "reason": "error rate 16.7 % > 5 %",
        },
    ]
    m = summarize(_stress_run(run_factory, starts_factory, records))
    assert m.stress is not None
    assert (m.stress.breaking_point_rps, m.stress.first_failed_rps) == (20.0, 30.0)
    assert m.stress.failure_mode == "errors: http5xx"
    assert [s.held for s in m.stress.steps] == [True, True, False]


def test_stress_latency_break_names_latency(run_factory, starts_factory):
    records = [
        {"rps": 10.0, "achievedRps": 10.0, "p95Ms": 20.0, "errorRate": 0.0, "held": True, "reason": None},
        {
            "rps": 20.0,
            "achievedRps": 20.0,
            "p95Ms": 812.0,
            "errorRate": 0.0,
            "held": False,
            "reason": "p95 812.0 ms > 500 ms",
        },
    ]
    m = summarize(_stress_run(run_factory, starts_factory, records))
    assert m.stress is not None
    assert (m.stress.breaking_point_rps, m.stress.first_failed_rps, m.stress.failure_mode) == (
        10.0,
        20.0,
        "latency",
    )


def test_stress_without_records_judges_the_step_phases(run_factory, starts_factory):
    m = summarize(_stress_run(run_factory, starts_factory))
    assert m.stress is not None
    assert (m.stress.breaking_point_rps, m.stress.first_failed_rps) == (20.0, 30.0)
    assert m.stress.failure_mode == "errors: http5xx"
    assert m.stress.steps[2].error_rate == pytest.approx(25 / 150)


def test_stress_with_unreadable_records_warns_and_falls_back(run_factory, starts_factory):
    m = summarize(_stress_run(run_factory, starts_factory, records=[{"rps": "many"}]))
    assert m.stress is not None
    assert m.stress.first_failed_rps == 30.0
    assert m.warnings is not None
    assert any("unreadable step records" in w for w in m.warnings)


def test_latency_profile_per_payload_variant(run_factory, starts_factory):
    starts = starts_factory(0, 10, 10)
    variants = np.arange(starts.size) % 2
    latency = np.where(variants == 0, 0.010, 0.020)
    run = run_factory(
        starts,
        latency,
        variants=variants,
        payload_sizes=[100, 1000],
        phases=[Phase("steady", 0, 10, True, 10)],
        extra={"testType": "latency"},
    )
    m = summarize(run)
    assert m.latency_profile is not None
    assert [(p.size_bytes, p.requests) for p in m.latency_profile] == [(100, 50), (1000, 50)]
    assert [p.latency.p95 for p in m.latency_profile] == [pytest.approx(10), pytest.approx(20)]


def test_latency_profile_from_phases_when_samples_were_dropped(run_factory, starts_factory):
    starts = starts_factory(0, 10, 10)
    latency = np.where(starts < 5, 0.010, 0.020)
    phases = [
        Phase("payload-100", 0, 5, True, 10, payload_bytes=100),
        Phase("payload-1000", 5, 10, True, 10, payload_bytes=1000),
    ]
    run = run_factory(
        starts,
        latency,
        phases=phases,
        complete=False,
        payload_sizes=[100, 1000],
        extra={"testType": "latency"},
    )
    m = summarize(run)
    assert m.latency_profile is not None
    assert [p.size_bytes for p in m.latency_profile] == [100, 1000]
    assert m.latency_profile[1].latency.p95 == pytest.approx(20, rel=0.0101)


def test_run_without_responses_or_measured_phase_does_not_crash(run_factory, starts_factory):
    starts = starts_factory(0, 2, 5)
    run = run_factory(
        starts,
        np.full(10, np.nan),
        outcomes=np.full(10, Outcome.CONNECT_REFUSED),
        phases=[Phase("steady", 0, 2, False)],
    )
    m = summarize(run)
    assert m.latency is None
    assert m.rps == 0.0
    assert (m.error_rate, m.errors) == (1.0, {"connectRefused": 10})
    assert m.warnings is not None
    assert any("no phase is marked measured" in w for w in m.warnings)


def test_summary_serialises_with_the_spec_field_names(run_factory, starts_factory):
    wire = summarize(_load_run(run_factory, starts_factory)).to_wire()
    assert {
        "rps",
        "targetRps",
        "latency",
        "errorRate",
        "throughputBytes",
        "testDuration",
        "testStartTime",
    } <= set(wire)
    assert wire["testDuration"] == "10s"
    assert wire["latencyHistogram"]["relativeError"] == 0.01
