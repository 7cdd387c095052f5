"""performanceScore: each normalisation rule with hand-computed values, and weight resolution."""

from __future__ import annotations

import pytest

from sk_loadagent.analysis import (
    WeightOverride,
    classify,
    resolve_limits,
    resolve_weights,
    score,
    score_breakdown,
)
from sk_loadagent.errors import InputError
from sk_loadagent.models.metrics import BaselineComparison, LatencySummary, PerfMetrics, ScoreWeights
from sk_loadagent.models.thresholds import ThresholdLimits


def _limits(**limits):
    return resolve_limits(
        module_id="M",
        edition_id=None,
        test_type="load",
        endpoint=None,
        annotation=ThresholdLimits(**limits),
        files=[],
        edition_slo=None,
        memory_derived=None,
    )


def _components(metrics, **limits):
    return score(metrics, _limits(**limits), ScoreWeights())[1]


@pytest.mark.parametrize(
    ("p95", "p99", "expected"),
    [
        (500, 900, 1.0),
        (600, 900, 0.8),
        (600, 1000, 0.8),
        (450, 1000, 2 - 1000 / 900),
        (1000, None, 0.0),
        (1200, 100, 0.0),
    ],
)
def test_latency_score_is_the_lowest_over_configured_percentiles(p95, p99, expected):
    c = _components(PerfMetrics(latency=LatencySummary(p95=p95, p99=p99)), latency_p95=500, latency_p99=900)
    assert c.latency_score == pytest.approx(expected)


def test_latency_without_responses_scores_zero():
    assert _components(PerfMetrics(), latency_p95=500).latency_score == 0.0


@pytest.mark.parametrize(
    ("rps", "expected"), [(120, 1.0), (100, 1.0), (95, 0.9), (75, 0.5), (50, 0.0), (10, 0.0)]
)
def test_throughput_falls_linearly_to_zero_at_half_the_minimum(rps, expected):
    assert _components(PerfMetrics(rps=rps), rps_min=100).throughput_score == pytest.approx(expected)


def test_throughput_without_a_minimum_is_full():
    assert _components(PerfMetrics(rps=1.0)).throughput_score == 1.0


@pytest.mark.parametrize(
    ("rate", "limit", "expected"),
    [
        (0.0, 0.01, 1.0),
        (0.01, 0.01, 1.0),
        (0.03, 0.01, 0.5),
        (0.05, 0.01, 0.0),
        (0.2, 0.01, 0.0),
        (0.05, 0.06, 1.0),
        (0.061, 0.06, 0.0),
    ],
)
def test_error_rate_score(rate, limit, expected):
    assert _components(PerfMetrics(error_rate=rate), error_rate_max=limit).error_rate_score == pytest.approx(
        expected
    )


def test_resource_score_is_the_mean_of_cpu_and_memory_parts():
    # CPU 95 % vs default 90 %: (100-95)/10 = 0.5. Memory 480 of 512 MB: (512-480)/(0.15*512) = 0.41667.
    c = _components(PerfMetrics(cpu_usage_pct=95, memory_usage_mb=480), memory_usage_max=512)
    assert c.resource_utilization_score == pytest.approx((0.5 + 32 / 76.8) / 2)
    c = _components(
        PerfMetrics(cpu_usage_pct=80, memory_usage_mb=435), cpu_usage_max=75, memory_usage_max=512
    )
    assert c.resource_utilization_score == pytest.approx(((100 - 80) / 25 + 1.0) / 2)


def test_unmeasured_resources_leave_the_score_and_say_so():
    breakdown = score_breakdown(PerfMetrics(), _limits())
    assert breakdown.components.resource_utilization_score is None
    assert "resourceUtilizationScore" not in breakdown.components.to_wire()
    assert breakdown.weights.resource_utilization == 0
    assert breakdown.weights.latency == pytest.approx(0.35 / 0.9)
    assert breakdown.reasons[3] == (
        "resources: not measured (no CPU or memory of the target): left out of the score, its weight 0.10 "
        "spread over the other components"
    )
    # the same metrics with every other component perfect still score 1.0, not less (nor more)
    perfect = PerfMetrics.model_validate(
        {"latency": {"p50": 1, "p95": 2, "p99": 3}, "rps": 100, "errorRate": 0}
    )
    assert score_breakdown(perfect, _limits()).score == pytest.approx(1.0)


def test_measured_cpu_alone_is_the_component():
    breakdown = score_breakdown(PerfMetrics(cpu_usage_pct=95.0, memory_usage_mb=300.0), _limits())
    assert breakdown.components.resource_utilization_score == pytest.approx(0.5)
    assert "no memoryUsageMax configured (not judged)" in breakdown.reasons[3]


def _comparison(base, current):
    return BaselineComparison(p95_latency_baseline=base, p95_current=current, exploratory=False)


@pytest.mark.parametrize(
    ("current", "expected"),
    [(90, 1.0), (100, 1.0), (110, 0.95), (120, 0.90), (160, 0.45), (200, 0.0), (250, 0.0)],
)
def test_baseline_delta_score(current, expected):
    c = _components(PerfMetrics(baseline_comparison=_comparison(100, current)))
    assert c.baseline_delta_score == pytest.approx(expected)


def test_no_baseline_is_exploratory_and_full():
    exploratory = BaselineComparison(exploratory=True, p95_current=300)
    assert _components(PerfMetrics(baseline_comparison=exploratory)).baseline_delta_score == 1.0
    assert _components(PerfMetrics()).baseline_delta_score == 1.0


def test_spec_example_scores_085_and_is_a_warning():
    # Spec cycle 15 prints components 0.84/0.90/0.98/0.60/0.75 and a score of 0.82, but its own formula
    # gives 0.35*0.84 + 0.25*0.90 + 0.20*0.98 + 0.10*0.60 + 0.10*0.75 = 0.85 (still a warning).
    metrics = PerfMetrics(
        latency=LatencySummary(p95=580),  # limit 500: 2 - 580/500 = 0.84
        rps=95,  # minimum 100: (95 - 50) / 50 = 0.90
        error_rate=0.0108,  # limit 1 %: (0.05 - 0.0108) / 0.04 = 0.98
        cpu_usage_pct=94,  # (100 - 94) / 10 = 0.60
        memory_usage_mb=910,  # quota 1000: (1000 - 910) / 150 = 0.60
        baseline_comparison=_comparison(435, 580),  # +33.3 %: 0.90 * (1 - 0.1333/0.8) = 0.75
    )
    value, c = score(metrics, _limits(latency_p95=500, rps_min=100, memory_usage_max=1000), ScoreWeights())
    assert (c.latency_score, c.throughput_score, c.error_rate_score) == pytest.approx((0.84, 0.90, 0.98))
    assert (c.resource_utilization_score, c.baseline_delta_score) == pytest.approx((0.60, 0.75))
    assert value == pytest.approx(0.85)
    assert classify(value, [], None).status == "warning"


def test_perfect_run_scores_one_and_reasons_name_every_component():
    breakdown = score_breakdown(
        PerfMetrics(latency=LatencySummary(p95=100), rps=100, error_rate=0), _limits(rps_min=50)
    )
    assert breakdown.score == 1.0
    assert [r.split(":")[0] for r in breakdown.reasons] == [
        "latency",
        "throughput",
        "error rate",
        "resources",
        "baseline",
    ]


def test_weights_are_renormalised():
    metrics = PerfMetrics(latency=LatencySummary(p95=1600), rps=100, error_rate=0.0)  # latency 0, the rest 1
    value, _ = score(
        metrics,
        _limits(),
        ScoreWeights(latency=1, throughput=1, error_rate=0, resource_utilization=0, baseline_delta=0),
    )
    assert value == pytest.approx(0.5)


def test_resolve_weights_most_specific_scope_wins_and_renormalises():
    overrides = [
        WeightOverride(edition_id="multitenant-lite", throughput=0.15, resource_utilization=0.20),
        WeightOverride(module_id="CheckoutService", test_type="load", latency=0.5),
        WeightOverride(module_id="CheckoutService", latency=0.1),  # less specific: loses to the line above
        WeightOverride(edition_id="vetclinic", latency=0.9),  # another edition: does not apply
    ]
    w = resolve_weights(overrides, "CheckoutService", "multitenant-lite", "load")
    total = 0.5 + 0.15 + 0.20 + 0.20 + 0.10
    assert (w.latency, w.throughput, w.error_rate) == pytest.approx((0.5 / total, 0.15 / total, 0.2 / total))
    assert (w.resource_utilization, w.baseline_delta) == pytest.approx((0.2 / total, 0.1 / total))


def test_resolve_weights_without_overrides_is_the_default_formula():
    assert resolve_weights([], "M", None, "load") == ScoreWeights()


def test_negative_weight_is_rejected_with_file_and_field():
    with pytest.raises(InputError) as err:
        resolve_weights(
            [WeightOverride(error_rate=-0.1, source="perf/customWeighting.yaml")], "M", None, "load"
        )
    assert str(err.value) == "perf/customWeighting.yaml: errorRate: expected a weight of 0 or more, got -0.1"


def test_all_zero_weights_are_rejected():
    zero = WeightOverride(latency=0, throughput=0, error_rate=0, resource_utilization=0, baseline_delta=0)
    with pytest.raises(InputError, match="at least one weight above 0"):
        resolve_weights([zero], "M", None, "load")
