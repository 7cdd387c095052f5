"""Issue 8: retries only where they help (spec cycle 18) — the pure rule of ``analysis.retry``.

A pass is never retried; a deterministic failure escalates at once with its reason; a retry runs only for a
trigger it can change, each trigger at most once; closed-model and stress tests are never throttled.
"""

from __future__ import annotations

from typing import Any

import pytest

from sk_loadagent.analysis import (
    detect_cold_start,
    detect_cpu_spike,
    detect_generator_saturation,
    detect_infrastructure_anomaly,
    retry_decision,
)
from sk_loadagent.analysis.retry import (
    PlannedLoad,
    RetryBudget,
    ScoreNoise,
    detect_connection_failures_at_start,
    fits_budget,
    latency_noise,
    retry_seconds,
    score_noise,
)
from sk_loadagent.analysis.thresholds import Limit, ResolvedLimits, Tolerance
from sk_loadagent.models.metrics import (
    BaselineComparison,
    EffectiveLimit,
    GeneratorStats,
    Interval,
    LatencySummary,
    MeasurementInfo,
    MetricDelta,
    PerfMetrics,
    PhaseSummary,
    ResourceUsage,
    StressReport,
    StressStep,
    TimelinePoint,
    Violation,
)

LIMITS = [
    EffectiveLimit(metric="latencyP95", limit=100, source="default"),
    EffectiveLimit(metric="errorRateMax", limit=0.01, source="default"),
    EffectiveLimit(metric="regressionP95", limit=0.25, source="default"),
]


def _metrics(status: str = "degraded", score: float = 0.7, **fields: Any) -> PerfMetrics:
    values: dict[str, Any] = {
        "test_type": "load",
        "target_rps": 100.0,
        "rps": 100.0,
        "error_rate": 0.0,
        "test_duration": 120.0,
        "latency": LatencySummary(p50=40, p95=90, p99=120),
        "thresholds": LIMITS,
        "phases": [PhaseSummary(name="steady", start=0, end=10, measured=True, target_rps=100)],
        **fields,
    }
    return PerfMetrics(status=status, performance_score=score, **values)


def _timeline(
    p95s: list[float], errors: list[int] | None = None, phase: str = "steady"
) -> list[TimelinePoint]:
    counts = errors or [0] * len(p95s)
    return [
        TimelinePoint(t=float(i), rps=100, p95=v, errors=e, phase=phase)
        for i, (v, e) in enumerate(zip(p95s, counts, strict=True))
    ]


def _decide(metrics: PerfMetrics, **kwargs: Any):
    return retry_decision(metrics, attempt=kwargs.pop("attempt", 0), **kwargs)


COLD = _timeline([400, 380, 300] + [50] * 10)
SPIKE = ResourceUsage(samples=20, cpu_avg_pct=40, cpu_peak_pct=97)


# -- 1. a pass is never retried ------------------------------------------------------------------------


def test_a_pass_is_never_retried_whatever_its_anomalies() -> None:
    passing = _metrics("pass", 0.97, timeline=COLD, resources=SPIKE)
    assert detect_infrastructure_anomaly(passing) is not None  # classify makes this pass a warning
    d = _decide(passing, retry_on_fail=True, history_flaky=True)
    assert (d.retry, d.escalate, d.reason) == (False, False, "status pass: a pass is never retried")


def test_a_pass_turned_warning_by_an_anomaly_is_not_retried() -> None:
    # classify's warning for an anomaly on a pass: the score is in the pass band, so nothing can improve.
    warned = _metrics("warning", 0.97, timeline=COLD, resources=SPIKE)
    noise = ScoreNoise(score=0.05, latency=0.05, source="test")
    d = _decide(warned, noise=noise, retry_on_fail=True)
    assert (d.retry, d.reason) == (False, "no retry trigger (status warning)")


# -- 2. deterministic failures escalate at once ----------------------------------------------------------


def test_an_error_storm_escalates_at_once() -> None:
    storm = _metrics(
        "fail",
        0.45,
        error_rate=1.0,
        errors={"http5xx": 1000},
        timeline=_timeline([2.0] * 10, [100] * 10),
    )
    d = _decide(storm, retry_on_fail=True, history_flaky=True)
    assert (d.retry, d.escalate, d.strategy) == (False, True, None)
    assert d.reason == (
        "error storm: 100 % of requests failed (http5xx) in 10 of 10 windows, over twice the 1.0 % "
        "errorRateMax: a retry would reproduce it: escalate"
    )


OUTAGE = "infrastructure failure: 800 of 1,000 requests failed (80 %), 800 of them at the connection"


def test_an_infrastructure_failure_is_escalated_not_retried() -> None:
    outage = _metrics(
        "fail",
        0.3,
        error_rate=0.8,
        errors={"connectRefused": 700, "reset": 100},
        timeline=_timeline([1.0] * 8, [80] * 8),
        infrastructure_failure=OUTAGE,
    )
    d = _decide(outage, retry_on_fail=True)
    assert (d.retry, d.escalate, d.trigger) == (False, True, OUTAGE)
    assert d.reason == f"{OUTAGE}: a retry would reproduce it: escalate"


def test_an_outage_that_cleared_after_the_start_is_retried() -> None:
    # Most requests failed, but all in the first windows: the target was coming up; now it answers.
    cleared = _metrics(
        "fail",
        0.3,
        error_rate=0.6,
        errors={"connectRefused": 600},
        timeline=_timeline([1.0] * 10, [150] * 4 + [0] * 6),
        infrastructure_failure=OUTAGE,
    )
    d = _decide(cleared)
    assert (d.retry, d.kind, d.strategy) == (True, "connection-failures-at-start", "warm-start")


def test_p95_over_twice_its_limit_throughout_escalates_but_not_a_burst() -> None:
    slow = _metrics("fail", 0.4, latency=LatencySummary(p95=250), timeline=_timeline([250] * 10))
    d = _decide(slow, retry_on_fail=True)
    assert (d.retry, d.escalate) == (False, True)
    assert d.trigger == "p95 250 ms is more than twice its 100 ms limit, over the limit in 10 of 10 windows"

    # Over twice the limit overall, but only in 3 windows of 10: not a property of the service.
    stall = [60] * 4 + [900] * 3 + [60] * 3
    burst = _metrics("fail", 0.4, latency=LatencySummary(p95=250), timeline=_timeline(stall))
    d = _decide(burst, retry_on_fail=True)
    assert (d.retry, d.trigger) == (True, "retryOnFail")


def _stress(*steps: tuple[float, bool], design: float = 400) -> StressReport:
    held = [rps for rps, ok in steps if ok]
    broken = [rps for rps, ok in steps if not ok]
    return StressReport(
        steps=[StressStep(rps=rps, achieved_rps=rps, error_rate=0, held=ok) for rps, ok in steps],
        breaking_point_rps=max([r for r in held if r < min(broken, default=1e9)], default=None),
        first_failed_rps=min(broken, default=None),
        design_limit_rps=design,
    )


def test_a_stress_capacity_below_the_design_limit_with_consistent_steps_escalates() -> None:
    # The case: rps 400 against a serial 5 ms service; the ladder and the probes agree.
    report = _stress((100, True), (200, False), (150, True), (175, True), (187.5, True), (193.75, False))
    d = _decide(_metrics("fail", 0.7, test_type="stress", stress=report), retry_on_fail=True)
    assert (d.retry, d.escalate) == (False, True)
    assert d.reason == (
        "stress: capacity 187.5 rps, below the design limit 400 rps, with consistent steps (4 held below "
        "193.75 rps, 2 broke from it): a retry would reproduce it: escalate"
    )


def test_inconsistent_stress_steps_are_not_deterministic() -> None:
    report = _stress((100, False), (200, True), (300, False))  # a rate held above one that broke
    d = _decide(_metrics("fail", 0.7, test_type="stress", stress=report), retry_on_fail=True)
    assert (d.retry, d.trigger, d.strategy) == (True, "retryOnFail", "standard")


# -- 3. the triggers a retry can change ----------------------------------------------------------------


def _at_start() -> dict[str, Any]:
    return {
        "error_rate": 0.2,
        "errors": {"connectRefused": 180, "timeout": 20},
        "timeline": _timeline([30] * 10, [100, 80, 20] + [0] * 7),
    }


def test_connection_failures_at_start_get_a_warm_start() -> None:
    failing = _metrics("fail", 0.45, **_at_start())
    assert detect_connection_failures_at_start(failing) == (
        "connection failures at start: 200 failed (connectRefused) in the first 3s, none in the 7s after"
    )
    d = _decide(failing)
    assert (d.retry, d.kind, d.strategy, d.adjustments, d.cooldown_s) == (
        True,
        "connection-failures-at-start",
        "warm-start",
        {"warmup": "10s"},
        0.0,
    )
    # A spike has no warm-up phase: a standard retry (the service is up by now) instead.
    assert _decide(_metrics("fail", 0.45, test_type="spike", **_at_start())).strategy == "standard"


def test_failures_that_do_not_clear_are_not_failures_at_start() -> None:
    late = _metrics(
        "fail", 0.45, **{**_at_start(), "timeline": _timeline([30] * 10, [50] * 2 + [0] * 6 + [50] * 2)}
    )
    assert detect_connection_failures_at_start(late) is None


@pytest.mark.parametrize(
    ("fields", "kind", "strategy", "adjustments", "cooldown"),
    [
        ({"timeline": COLD}, "cold-start", "warm-start", {"warmup": "10s"}, 0.0),
        ({"resources": SPIKE}, "cpu-spike", "standard", {}, 10.0),
        (
            {
                "generator": GeneratorStats(
                    requests=1000,
                    cpu_seconds=9,
                    cpu_pct=50,
                    late_starts=30,
                    dropped=0,
                    workers=1,
                    saturated=True,
                )
            },
            "generator-behind",
            "throttled",
            {"loadFactor": 0.6, "rps": 60.0},
            10.0,
        ),
    ],
    ids=["cold-start", "cpu-spike", "generator-behind"],
)
def test_an_infrastructure_anomaly_on_a_failing_test_chooses_its_strategy(
    fields: dict[str, Any], kind: str, strategy: str, adjustments: dict[str, Any], cooldown: float
) -> None:
    d = _decide(_metrics("degraded", 0.7, **fields))
    assert (d.retry, d.kind, d.strategy, d.adjustments, d.cooldown_s) == (
        True,
        kind,
        strategy,
        adjustments,
        cooldown,
    )
    assert d.cooldown_s <= 10.0


def test_a_warm_start_without_room_for_its_warm_up_is_a_standard_retry() -> None:
    cold = _metrics("degraded", 0.7, timeline=COLD)
    planned = PlannedLoad(duration=20, seconds=22, warmup=0)
    roomy = _decide(cold, planned=planned, budget=RetryBudget(seconds_left=40, overhead_s=2))
    assert (roomy.strategy, roomy.adjustments, roomy.cost_s) == ("warm-start", {"warmup": "10s"}, 32)
    # As long as the first attempt (22 s + 2 s): room for the same run again, not for a warm-up too.
    tight = _decide(cold, planned=planned, budget=RetryBudget(seconds_left=24, overhead_s=2))
    assert (tight.strategy, tight.adjustments, tight.cost_s, tight.cooldown_s) == ("standard", {}, 22, 10.0)
    assert tight.reason.endswith(
        "standard retry 1 of 3; no room for a warm-up in the retry budget, and the first run warmed the "
        "service"
    )


def _saturated(**fields: Any) -> GeneratorStats:
    values = {
        "requests": 1000,
        "cpu_seconds": 9.8,
        "cpu_pct": 98,
        "late_starts": 300,
        "dropped": 5,
        "workers": 1,
    }
    return GeneratorStats(**{**values, **fields, "saturated": True})


def test_a_closed_model_or_stress_test_is_never_throttled() -> None:
    closed = _metrics(
        "degraded",
        0.7,
        test_type="concurrency",
        generator=_saturated(),
        measurement=MeasurementInfo(
            source="samples", samples=1, sample_budget=1, relative_error=0, timed_from="actual-send"
        ),
    )
    stress = _metrics("degraded", 0.7, test_type="stress", generator=_saturated())
    for metrics in (closed, stress):
        assert detect_generator_saturation(metrics) is None
        assert detect_infrastructure_anomaly(metrics) is None
        d = _decide(metrics, retry_on_fail=True, attempt=1)
        assert d.strategy != "throttled"
        assert (d.trigger, d.strategy) == ("retryOnFail", "standard")


def test_a_busy_generator_that_kept_its_schedule_is_reported_but_not_throttled() -> None:
    busy = _metrics("degraded", 0.7, generator=_saturated(late_starts=0, dropped=0))
    assert detect_generator_saturation(busy) == "generator saturation: generator CPU 98 %"
    assert _decide(busy).retry is False


def test_late_starts_that_left_the_p95_where_the_service_put_it_are_no_anomaly() -> None:
    """3 % late starts on a busy machine, p95 from the intended start within 5 % of the service's own: the
    figures are the service's, so a pass stays a pass (and can become a baseline) and nothing is retried."""
    busy_but_true = _metrics(
        "pass",
        0.95,
        generator=_saturated(late_starts=30, dropped=0, cpu_pct=40),
        service_time=LatencySummary(p50=39, p95=87, p99=118),  # latency p95 90: +3.4 %
    )
    assert detect_infrastructure_anomaly(busy_but_true) is None
    assert _decide(busy_but_true).retry is False

    moved = busy_but_true.model_copy(update={"service_time": LatencySummary(p50=35, p95=80, p99=100)})
    assert detect_infrastructure_anomaly(moved) == "generator saturation: 3.0 % late starts"  # +12.5 %
    dropped = busy_but_true.model_copy(update={"generator": _saturated(late_starts=0, dropped=1)})
    assert detect_infrastructure_anomaly(dropped) == "generator saturation: 1 dropped, generator CPU 98 %"


def test_a_busy_generator_on_schedule_is_no_anomaly() -> None:
    busy = _metrics("pass", 0.95, generator=_saturated(late_starts=0, dropped=0))
    assert detect_generator_saturation(busy) == "generator saturation: generator CPU 98 %"
    assert detect_infrastructure_anomaly(busy) is None


def _regressed(delta: str, low: str, high: str) -> BaselineComparison:
    interval = Interval(low=low, high=high)
    return BaselineComparison(
        p95_latency_baseline=80,
        p95_current=90,
        delta_latency_p95=delta,
        delta_latency_p95_interval=interval,
        regressed=True,
        exploratory=False,
        metrics={"p95": MetricDelta(delta=delta, interval=interval, regressed=True)},
    )


def test_a_regression_straddling_its_tolerance_is_re_measured_once() -> None:
    straddling = _metrics(
        "degraded", 0.8, baseline_comparison=_regressed("+28%", "+18%", "+39%"), regression=True
    )
    d = _decide(straddling)
    assert (d.retry, d.kind, d.strategy, d.adjustments) == (
        True,
        "regression-straddles-tolerance",
        "standard",
        {},
    )
    assert d.reason == (
        "p95 regressed +28% [+18%, +39%], an interval that straddles the +25% tolerance: re-measured once "
        "to confirm: standard retry 1 of 3"
    )
    again = _decide(
        straddling.model_copy(update={"retry_attempt": 1}),
        attempt=1,
        retried_for=["regression-straddles-tolerance"],
    )
    assert (again.retry, again.escalate) == (False, True)
    assert again.reason.endswith("but a retry for it already ran and the verdict held: escalate")
    # Clear of the tolerance: a retry would confirm what is already clear.
    clear = _metrics("degraded", 0.8, baseline_comparison=_regressed("+60%", "+50%", "+71%"), regression=True)
    assert _decide(clear).retry is False


LATENCY_LIMITS = ResolvedLimits(
    limits={"latencyP95": Limit(100, "default"), "errorRateMax": Limit(0.01, "default")},
    tolerance=Tolerance(),
)


def test_latency_noise_comes_from_the_comparison_interval_or_the_run_to_run_floor() -> None:
    compared = _metrics(baseline_comparison=_regressed("+20%", "+10%", "+30%"))
    sigma, source = latency_noise(compared)
    assert sigma == pytest.approx(0.0426, abs=1e-4)  # (ln 1.3 − ln 1.1) / 2 / 1.96
    assert source == "the p95 change's interval [+10%, +30%]"
    flat = _metrics(timeline=_timeline([110] * 10))
    assert latency_noise(flat) == (
        pytest.approx(0.05),
        "run-to-run noise 5.0 % and the windows' p95 spread 0 %",
    )


def test_score_noise_rescoring_the_run_with_its_latency_moved() -> None:
    # p95 110 ms against a 100 ms limit; latency ±9.8 % (1.96 × 5 %): 99.2 ms scores 1.0, 120.8 ms 0.792;
    # the latency weight 0.35 turns that into a score range of 0.0727, ±0.036.
    run = _metrics("degraded", 0.74, latency=LatencySummary(p95=110), timeline=_timeline([110] * 10))
    run = run.model_copy(update={"cpu_usage_pct": 20.0})  # measured: the weights stay the default ones
    noise = score_noise(run, LATENCY_LIMITS)
    assert noise is not None
    assert noise.score == pytest.approx(0.0364, abs=1e-3)


MINOR = Violation(
    metric="latencyP95", limit=100, observed=110, severity="minor", source="default", message="p95"
)
NOISE = ScoreNoise(score=0.036, latency=0.05, source="run-to-run noise 5.0 %")


def test_a_score_within_its_noise_of_the_band_above_is_re_measured() -> None:
    near = _metrics("degraded", 0.74, violations=[MINOR])
    d = _decide(near, noise=NOISE)
    assert (d.retry, d.kind, d.strategy) == (True, "score-within-noise", "standard")
    assert (
        d.trigger == "score 0.74 is within its noise (±0.04, from run-to-run noise 5.0 %) of the warning band"
    )
    # A warning near 0.90 too, unless a minor violation holds it at warning; a degraded 0.70 is out of
    # reach; and when a significant violation holds the status at degraded, a better score changes nothing.
    assert _decide(_metrics("warning", 0.88), noise=NOISE).retry is True
    assert _decide(_metrics("warning", 0.88, violations=[MINOR]), noise=NOISE).retry is False
    assert _decide(_metrics("degraded", 0.70), noise=NOISE).retry is False
    significant = MINOR.model_copy(update={"severity": "significant"})
    assert _decide(_metrics("degraded", 0.74, violations=[significant]), noise=NOISE).retry is False
    # A fail at 0.48 could become degraded, unless errors above twice errorRateMax keep it at fail.
    assert _decide(_metrics("fail", 0.48), noise=NOISE).kind == "score-within-noise"
    errors = Violation(
        metric="errorRate",
        limit=0.01,
        observed=0.03,
        severity="significant",
        source="default",
        message="errors",
    )
    held = _metrics("fail", 0.48, error_rate=0.03, violations=[errors])
    assert _decide(held, noise=NOISE).retry is False


def test_a_flaky_history_gets_a_memory_guided_retry() -> None:
    d = _decide(_metrics("degraded", 0.7), history_flaky=True)
    assert (d.retry, d.strategy, d.cooldown_s) == (True, "memory-guided", 10.0)
    assert d.trigger == "degraded with a flakiness pattern in history"
    assert _decide(_metrics("degraded", 0.7)).retry is False


def test_retry_on_fail_retries_once_with_the_same_parameters_then_escalates() -> None:
    first = _decide(_metrics("degraded", 0.7), retry_on_fail=True)
    assert (first.trigger, first.strategy, first.adjustments) == ("retryOnFail", "standard", {})
    second = _decide(
        _metrics("degraded", 0.7, retry_attempt=1),
        retry_on_fail=True,
        attempt=1,
        retried_for=["retry-on-fail"],
    )
    assert (second.retry, second.escalate, second.strategy) == (False, True, None)


def test_without_a_trigger_a_failure_is_not_retried() -> None:
    d = _decide(_metrics("fail", 0.55))
    assert (d.retry, d.escalate, d.reason) == (False, False, "no retry trigger (status fail)")


def test_retries_stop_after_max_attempts_and_escalate() -> None:
    d = _decide(_metrics("degraded", 0.7, timeline=COLD), attempt=3)
    assert (d.retry, d.escalate, d.kind) == (False, True, "cold-start")
    assert d.reason.endswith("but 3 retries are used up: escalate (regression alert)")


def test_a_reviewers_retry_with_replaces_the_strategy_when_a_trigger_fires() -> None:
    d = _decide(_metrics("degraded", 0.7), retry_on_fail=True, retry_with={"duration": "30s"})
    assert (d.strategy, d.adjustments) == ("staged", {"duration": "30s"})
    assert d.reason == "retryOnFail: staged retry 1 of 3 set by Studio retryWith (duration 30s)"


def test_retry_info_for_perf_metrics() -> None:
    info = _decide(_metrics("degraded", 0.7), retry_on_fail=True).as_retry_info(1, "degraded")
    assert info.to_wire() == {
        "retryAttempt": 1,
        "originalStatus": "degraded",
        "trigger": "retryOnFail",
        "strategy": "standard",
        "reason": "retryOnFail: standard retry 1 of 3",
        "outcome": "pending",
    }


# -- 4. time ------------------------------------------------------------------------------------------


def test_a_retry_costs_its_planned_schedule_with_the_adjustments_swapped_in() -> None:
    planned = PlannedLoad(duration=20, seconds=30, warmup=0)
    run = _metrics()
    assert retry_seconds(run, planned, {}) == 30
    assert retry_seconds(run, planned, {"warmup": "10s"}) == 40
    assert retry_seconds(run, planned, {"duration": "5s"}) == 15
    assert retry_seconds(run, PlannedLoad(), {}) == 10  # without a plan: the run's own phases


def test_retries_fit_the_budget_in_order() -> None:
    assert fits_budget([10, 10], RetryBudget(seconds_left=25, overhead_s=2)) == 2
    assert fits_budget([10, 10], RetryBudget(seconds_left=20, overhead_s=2)) == 1
    assert fits_budget([10, 10], RetryBudget(seconds_left=11)) == 1
    assert fits_budget([10, 10], None) == 2


# -- the detectors ---------------------------------------------------------------------------------------


def test_cold_start_detection() -> None:
    assert detect_cold_start(COLD) == "cold start: the first 3 windows' p95 (380 ms) is 7.6× the rest (50 ms)"
    assert detect_cold_start(_timeline([60, 55, 52] + [50] * 10)) is None
    assert detect_cold_start(_timeline([400, 380, 300, 50, 50])) is None  # too few windows to tell
    assert detect_cold_start(_timeline([3, 3, 3] + [0.5] * 10)) is None  # 6× but only 2.5 ms: timer noise
    warmup_only = _timeline([400, 380, 300], phase="warmup") + _timeline([50] * 10)
    assert detect_cold_start(warmup_only, measured_phases={"steady"}) is None


def test_generator_saturation_detection() -> None:
    assert (
        detect_generator_saturation(_metrics(generator=_saturated().model_copy(update={"saturated": False})))
        is None
    )
    saturated = _metrics(generator=_saturated(late_starts=30, dropped=2, cpu_pct=95))
    assert (
        detect_generator_saturation(saturated)
        == "generator saturation: 3.0 % late starts, 2 dropped, generator CPU 95 %"
    )


def test_cpu_spike_detection() -> None:
    assert (
        detect_cpu_spike(_metrics(resources=SPIKE)) == "target CPU spike: peak 97 % of quota vs average 40 %"
    )
    assert (
        detect_cpu_spike(_metrics(resources=ResourceUsage(cpu_avg_pct=92, cpu_peak_pct=99))) is None
    )  # sustained
    assert detect_cpu_spike(_metrics()) is None


def test_infrastructure_anomaly_uses_measured_windows() -> None:
    metrics = _metrics(timeline=COLD, phases=[PhaseSummary(name="steady", start=0, end=13, measured=True)])
    anomaly = detect_infrastructure_anomaly(metrics)
    assert anomaly is not None
    assert anomaly.startswith("cold start")
    assert detect_infrastructure_anomaly(_metrics()) is None
