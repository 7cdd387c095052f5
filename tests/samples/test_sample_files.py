"""The sample plans, thresholds and OpenAPI document: they load, match the service and stay calibrated."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from sk_loadagent.models.loading import load_document
from sk_loadagent.models.plan import TestSpec, TestSuitePlan
from sk_loadagent.models.thresholds import PerfThresholds
from sk_loadagent.sample_service import samples_dir

VETCLINIC = samples_dir() / "vetclinic"
PLANS = sorted(VETCLINIC.glob("*.plan.yaml")) + sorted((VETCLINIC / "plans").glob("*.plan.yaml"))
Z95, Z99 = 1.6449, 2.3263  # standard normal quantiles
TIMER_OVERSHOOT_MS = 1.0  # asyncio timers fire about a millisecond late


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((VETCLINIC / "generated.api.yaml").read_text(encoding="utf-8"))
    return document


def test_every_plan_named_by_the_brief_exists() -> None:
    names = {p.relative_to(VETCLINIC).as_posix() for p in PLANS}
    assert names == {
        "test-suite.plan.yaml",
        "checkout-flow.plan.yaml",
        "plans/soak.plan.yaml",
        "plans/stress.plan.yaml",
        "plans/concurrency.plan.yaml",
        "plans/latency.plan.yaml",
        "plans/appointments.plan.yaml",
        "plans/notifications.plan.yaml",
        "plans/custom.plan.yaml",
        "plans/checkout-k6.plan.yaml",
        "plans/appointments-locust.plan.yaml",
    }


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.name)
def test_plan_loads_and_targets_an_endpoint_of_its_module(path: Path, openapi: dict[str, Any]) -> None:
    plan = load_document(path, TestSuitePlan)
    assert plan.edition_id in ("vetclinic", "vetclinic-premium")
    assert plan.trace_id
    for test in plan.tests:
        paths = [s.request.path for s in test.flow or [] if s.request] or [test.endpoint or plan.endpoint]
        if test.bridged():  # the paths its own script requests
            script = (path.parent / (test.script or "")).read_text(encoding="utf-8")
            paths = [p for p in openapi["paths"] if f'"{p}"' in script or f"{p}`" in script]
            assert paths
        for endpoint in paths:
            assert endpoint in openapi["paths"]
            assert openapi["paths"][endpoint]["post"]["x-moduleId"] == plan.module_id


def test_the_plans_try_every_test_type() -> None:
    types = {test.type for path in PLANS for test in load_document(path, TestSuitePlan).tests}
    assert types == {"load", "spike", "soak", "stress", "concurrency", "latency", "custom"}


def schedule_seconds(test: TestSpec) -> float:
    """How long a test of the demo suite loads the service (the engine's schedule for load and spike)."""
    assert test.duration is not None
    if test.type == "load":
        return (test.ramp_up or 0) + (test.warmup or 0) + test.duration
    assert test.type == "spike"
    assert test.baseline_duration is not None
    assert test.recovery_window is not None
    return test.baseline_duration + 1 + test.duration + test.recovery_window


def test_the_demo_suite_is_short_enough_to_run_twice_in_two_minutes() -> None:
    plan = load_document(VETCLINIC / "test-suite.plan.yaml", TestSuitePlan)
    assert (plan.module_id, plan.edition_id, plan.endpoint) == (
        "CheckoutService",
        "vetclinic",
        "/checkout/submit",
    )
    assert [t.type for t in plan.tests] == ["load", "spike"]
    assert sum(schedule_seconds(t) for t in plan.tests) <= 30


def lognormal_quantile_ms(median_ms: float, sigma: float, z: float) -> float:
    return median_ms * math.exp(sigma * z) + TIMER_OVERSHOOT_MS


def test_the_demo_thresholds_separate_the_stable_and_the_slow_release(app_module: ModuleType) -> None:
    """The service's default knobs predict its percentiles (lognormal around the median); the vetclinic
    limits must pass the stable release with room to spare and be broken by the slow one."""
    knobs = app_module.Settings.defaults().knobs
    median, sigma, slow = knobs["latencyMs"], knobs["jitter"], knobs["slowFactor"]
    limits = next(
        s.limits
        for s in load_document(VETCLINIC / "perf-thresholds.yaml", PerfThresholds).scopes()
        if (s.edition_id, s.test_type) == ("vetclinic", None)
    )
    p95, p99 = limits.latency_limit("p95"), limits.latency_limit("p99")
    assert p95 is not None
    assert p99 is not None
    assert (
        lognormal_quantile_ms(median, sigma, Z95) * 1.5
        <= p95
        <= lognormal_quantile_ms(median * slow, sigma, Z95) * 0.75
    )
    assert (
        lognormal_quantile_ms(median, sigma, Z99) * 1.5
        <= p99
        < lognormal_quantile_ms(median * slow, sigma, Z99)
    )


def test_the_spike_saturates_only_the_slow_release(app_module: ModuleType) -> None:
    """Throughput is capped at capacity / mean service time: the slow release cannot serve the spike."""
    knobs = app_module.Settings.defaults().knobs
    mean_s = knobs["latencyMs"] * math.exp(knobs["jitter"] ** 2 / 2) / 1000 + TIMER_OVERSHOOT_MS / 1000
    stable_cap = knobs["capacity"] / mean_s
    slow_cap = knobs["capacity"] / (mean_s * knobs["slowFactor"])
    spike = load_document(VETCLINIC / "test-suite.plan.yaml", TestSuitePlan).tests[1]
    assert spike.rps is not None
    assert slow_cap < spike.rps < stable_cap / 2


def test_multi_edition_thresholds_cover_both_editions() -> None:
    document = load_document(VETCLINIC / "perf-thresholds.yaml", PerfThresholds)
    scopes = document.scopes()
    assert {s.module_id for s in scopes} == {"CheckoutService"}
    assert {s.edition_id for s in scopes} == {"vetclinic", "vetclinic-premium"}
    assert all(s.limits.error_rate_max for s in scopes if s.test_type is None)


def test_single_scope_thresholds_load() -> None:
    (scope,) = load_document(VETCLINIC / "perf-thresholds.single.yaml", PerfThresholds).scopes()
    assert (scope.module_id, scope.edition_id, scope.test_type, scope.endpoint) == (
        "CheckoutService",
        "vetclinic",
        "load",
        None,
    )
    assert (scope.limits.latency_limit("p50"), scope.limits.latency_limit("p95")) == (35, 60)


def test_openapi_document_describes_the_service(openapi: dict[str, Any], app_module: ModuleType) -> None:
    assert openapi["openapi"].startswith("3.0.")
    routes = {path: service for path, (service, _) in app_module.BUSINESS_ROUTES.items()}
    assert {p: openapi["paths"][p]["post"]["x-moduleId"] for p in routes} == routes
    assert set(openapi["paths"]) == set(app_module.BUSINESS_ROUTES) | set(app_module.OPERATION_ROUTES)
    schemas = openapi["components"]["schemas"]
    defaults = {name: spec.get("default") for name, spec in schemas["Knobs"]["properties"].items()}
    assert defaults == {**app_module.Settings.defaults().knobs, "endpoints": None}
    per_endpoint = {k.name for k in app_module.KNOBS.values() if k.per_endpoint}
    assert set(schemas["EndpointKnobs"]["properties"]) == per_endpoint
