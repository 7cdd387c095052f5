"""Threshold precedence (with the source of every limit) and violation severities."""

from __future__ import annotations

import pytest

from sk_loadagent.analysis import evaluate, resolve_limits
from sk_loadagent.models.metrics import LatencySummary, PerfMetrics
from sk_loadagent.models.thresholds import PerfThresholds, ThresholdLimits

LIST_FILE = PerfThresholds.model_validate(
    {
        "module": "CheckoutService",
        "thresholds": [
            {"editionId": "vetclinic", "latencyP95": 500, "rpsMin": 80},
            {"editionId": "vetclinic", "testType": "spike", "latencyP95": 700},
            {
                "editionId": "vetclinic",
                "testType": "spike",
                "endpoint": "/checkout/submit",
                "latencyP99": 1500,
            },
            {"editionId": "vetclinic-premium", "latencyP95": 650},
        ],
    }
)
MODULE_FILE = PerfThresholds.model_validate(
    {"module": "CheckoutService", "thresholds": {"latencyMs": {"p50": 300, "p95": 600}, "errorRateMax": 0.02}}
)


def _resolve(**overrides):
    args = {
        "module_id": "CheckoutService",
        "edition_id": "vetclinic",
        "test_type": "spike",
        "endpoint": "/checkout/submit",
        "annotation": None,
        "files": [LIST_FILE, MODULE_FILE],
        "edition_slo": None,
        "memory_derived": None,
    }
    args.update(overrides)
    return resolve_limits(**args)


def test_most_specific_file_scope_wins_per_limit():
    limits = _resolve()
    p99, p95, rps, p50 = (limits.get(m) for m in ("latencyP99", "latencyP95", "rpsMin", "latencyP50"))
    assert p99 is not None
    assert (p99.value, p99.source) == (
        1500,
        "perf-thresholds.yaml[CheckoutService/vetclinic/spike /checkout/submit]",
    )
    assert p95 is not None
    assert (p95.value, p95.source) == (
        700,
        "perf-thresholds.yaml[CheckoutService/vetclinic/spike]",
    )
    assert rps is not None
    assert (rps.value, rps.source) == (
        80,
        "perf-thresholds.yaml[CheckoutService/vetclinic]",
    )
    assert p50 is not None
    assert (p50.value, p50.source) == (300, "perf-thresholds.yaml[CheckoutService]")
    error = limits.get("errorRateMax")
    assert error is not None
    assert (error.value, error.source) == (
        0.02,
        "perf-thresholds.yaml[CheckoutService]",
    )


def test_other_editions_scopes_do_not_apply():
    limits = _resolve(edition_id="vetclinic-premium", test_type="load", endpoint=None)
    p95 = limits.get("latencyP95")
    assert p95 is not None
    assert (p95.value, p95.source) == (
        650,
        "perf-thresholds.yaml[CheckoutService/vetclinic-premium]",
    )
    assert limits.get("latencyP99") is None


def test_precedence_annotation_file_edition_memory_default():
    limits = _resolve(
        annotation=ThresholdLimits(latency_p95=900),
        edition_slo=ThresholdLimits(latency_p95=400, cpu_usage_max=75, memory_usage_max=512),
        memory_derived=ThresholdLimits(
            latency_p95=350, cpu_usage_max=60, memory_usage_max=300, latency_p50=5
        ),
        files=[],
    )
    sources = {m: (lim.value, lim.source) for m, lim in limits.limits.items()}
    assert sources == {
        "latencyP95": (900, "studio.annotation"),
        "cpuUsageMax": (75, "edition.config.json"),
        "memoryUsageMax": (512, "edition.config.json"),
        "latencyP50": (5, "memory"),
        "errorRateMax": (0.01, "default"),
    }


def test_defaults_when_nothing_is_configured():
    limits = _resolve(files=[])
    assert {m: (v.value, v.source) for m, v in limits.limits.items()} == {
        "errorRateMax": (0.01, "default"),
        "latencyP95": (800, "default"),
    }


def test_implicit_rps_minimum_only_for_open_model_tests():
    open_model = _resolve(files=[], target_rps=200)
    rps = open_model.get("rpsMin")
    assert rps is not None
    assert (rps.value, rps.source) == (pytest.approx(180), "target-rate")
    assert _resolve(files=[], target_rps=None).get("rpsMin") is None
    configured = _resolve(target_rps=200).get("rpsMin")
    assert configured is not None
    assert configured.value == 80


def test_regression_tolerance_follows_the_same_precedence():
    file = PerfThresholds.model_validate(
        {
            "module": "CheckoutService",
            "thresholds": {"latencyP95": 500, "regression": {"p95": 0.10, "rps": 0.3}},
        }
    )
    limits = _resolve(files=[file], annotation=ThresholdLimits(regression={"p95": 0.40}))
    t = limits.tolerance
    assert (t.p95, t.p99, t.rps, t.error_rate) == (0.40, 0.25, 0.3, 0.01)
    assert t.sources == {"p95": "studio.annotation", "rps": "perf-thresholds.yaml[CheckoutService]"}
    effective = {e.metric: (e.limit, e.source) for e in limits.as_effective()}
    assert effective["regressionP95"] == (0.40, "studio.annotation")
    assert effective["regressionP99"] == (0.25, "default")
    assert effective["latencyP95"] == (500, "perf-thresholds.yaml[CheckoutService]")


def test_as_effective_lists_limits_in_a_fixed_order():
    names = [e.metric for e in _resolve().as_effective()]
    assert names[:5] == ["latencyP50", "latencyP95", "latencyP99", "rpsMin", "errorRateMax"]


def _metrics(**fields):
    return PerfMetrics(**fields)


def test_latency_violation_message_and_severity():
    limits = _resolve(
        files=[
            PerfThresholds.model_validate(
                {"module": "CheckoutService", "editionId": "vetclinic", "thresholds": {"latencyP95": 500}}
            )
        ]
    )
    (v,) = evaluate(_metrics(latency=LatencySummary(p95=812), error_rate=0.0), limits)
    assert (v.metric, v.severity, v.limit, v.observed) == ("latencyP95", "significant", 500, 812)
    assert (
        v.message == "p95 812 ms > 500 ms limit (+62 %) from perf-thresholds.yaml[CheckoutService/vetclinic]"
    )


@pytest.mark.parametrize(
    ("p95", "severity"), [(800, None), (800.1, "minor"), (960, "minor"), (960.5, "significant")]
)
def test_latency_severity_boundary_at_plus_20_percent(p95, severity):
    violations = evaluate(_metrics(latency=LatencySummary(p95=p95)), _resolve(files=[]))
    assert [v.severity for v in violations] == ([severity] if severity else [])


@pytest.mark.parametrize(
    ("rate", "severity"), [(0.01, None), (0.015, "minor"), (0.02, "minor"), (0.0201, "significant")]
)
def test_error_rate_significant_above_twice_the_limit(rate, severity):
    violations = evaluate(_metrics(error_rate=rate), _resolve(files=[]))
    assert [v.severity for v in violations] == ([severity] if severity else [])


@pytest.mark.parametrize(("rps", "severity"), [(80, None), (64, "minor"), (63.9, "significant")])
def test_rps_minor_down_to_80_percent_of_the_minimum(rps, severity):
    violations = evaluate(_metrics(rps=rps), _resolve())
    assert [v.severity for v in violations] == ([severity] if severity else [])


def test_rps_message():
    (v,) = evaluate(_metrics(rps=60), _resolve())
    assert v.message == "rps 60 < 80 minimum (-25 %) from perf-thresholds.yaml[CheckoutService/vetclinic]"


def test_cpu_and_memory_violations():
    limits = _resolve(files=[], edition_slo=ThresholdLimits(cpu_usage_max=75, memory_usage_max=512))
    violations = evaluate(_metrics(cpu_usage_pct=82.4, memory_usage_mb=648), limits)
    assert [(v.metric, v.severity) for v in violations] == [
        ("cpuUsagePct", "minor"),
        ("memoryUsageMb", "significant"),
    ]
    assert violations[0].message == "CPU 82.4 % > 75 % limit (+10 %) from edition.config.json"
    assert violations[1].message == "memory 648 MB > 512 MB limit (+27 %) from edition.config.json"


def test_unmeasured_figures_break_nothing():
    assert evaluate(_metrics(), _resolve()) == []


def test_error_rate_message():
    (v,) = evaluate(_metrics(error_rate=0.025), _resolve(files=[]))
    assert v.message == "error rate 2.5 % > 1.0 % limit (2.5×) from default"
