"""The files other agents and reviewers hand us: metadata, editions, annotations, weighting, observability,
trace plan. What their helpers answer, and that unknown fields of open contracts survive a round trip."""

from __future__ import annotations

from typing import Any

import pytest

from sk_loadagent.errors import InputError
from sk_loadagent.models import (
    CustomWeighting,
    EditionConfig,
    ObservabilityConfig,
    ServiceMetadata,
    StudioAnnotations,
    ThresholdLimits,
    TracePlan,
    merge_limits,
    validate_document,
)


def _dump(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return dumped


METADATA = {
    "moduleId": "CheckoutService",
    "endpoints": [
        {"path": "/checkout/submit", "method": "post", "expectStatus": [200]},
        {"path": "/checkout/{orderId}", "method": "GET", "xRateLimit": 5},
        {"path": "/health"},
    ],
    "resources": {"cpuCores": 2, "memoryMb": 512},
    "generatedBy": "MicroserviceGeneratorAgent",
}


def test_metadata_helpers() -> None:
    meta = validate_document(METADATA, ServiceMetadata, "service.metadata.yaml")
    default = meta.default_endpoint()
    assert default is not None
    assert default.path == "/checkout/submit"
    assert meta.method_for("/checkout/submit") == "POST"
    assert meta.method_for("/checkout/ord-17") == "GET"
    assert meta.method_for("/health") == "GET"
    assert meta.method_for("/nowhere") is None
    assert meta.method_for("/checkout/a/b") is None
    assert meta.cpu_quota_cores() == 2
    assert meta.memory_quota_mb() == 512
    assert meta.module == "CheckoutService"


def test_metadata_default_flag_wins_over_order() -> None:
    data = {"serviceName": "checkout", "endpoints": [{"path": "/a"}, {"path": "/b", "default": True}]}
    meta = validate_document(data, ServiceMetadata, "m.yaml")
    assert meta.module == "checkout"
    endpoint = meta.default_endpoint()
    assert endpoint is not None
    assert endpoint.path == "/b"
    assert validate_document({"moduleId": "X"}, ServiceMetadata, "m.yaml").default_endpoint() is None
    assert validate_document({"moduleId": "X"}, ServiceMetadata, "m.yaml").cpu_quota_cores() is None


def test_metadata_keeps_unknown_fields() -> None:
    meta = validate_document(METADATA, ServiceMetadata, "service.metadata.yaml")
    dumped = _dump(meta)
    assert dumped["generatedBy"] == "MicroserviceGeneratorAgent"
    assert dumped["endpoints"][1]["xRateLimit"] == 5
    assert dumped["endpoints"][0]["method"] == "POST"


EDITIONS = {
    "editions": [
        {
            "editionId": "vetclinic",
            "slos": {"latencyP95": 500, "latencyP99": 750, "errorRateMax": 0.01, "rpsMin": 80},
            "trafficModel": {"rpsScale": 1.0, "concurrency": 20},
            "tenantTier": "base",
        },
        {
            "editionId": "multitenant-lite",
            "testTypes": ["load", "latency"],
            "scoring": {"weights": {"throughput": 0.15}},
        },
    ],
}


def test_edition_helpers() -> None:
    config = validate_document(EDITIONS, EditionConfig, "edition.config.json")
    limits = config.slo_limits("vetclinic")
    assert limits is not None
    assert (limits.latency_limit("p95"), limits.rps_min, limits.error_rate_max) == (500, 80, 0.01)
    assert config.slo_limits("multitenant-lite") is None
    assert config.slo_limits("unknown") is None
    weights = config.weights("multitenant-lite")
    assert weights is not None
    assert weights.given() == {"throughput": 0.15}
    assert config.weights("vetclinic") is None
    assert config.enables("vetclinic", "soak")
    assert not config.enables("multitenant-lite", "soak")
    assert config.enables("unknown", "soak")
    assert _dump(config) == EDITIONS


def test_edition_slos_are_strict() -> None:
    data = {"editions": [{"editionId": "a", "slos": {"latencyP59": 500}}]}
    with pytest.raises(InputError) as caught:
        validate_document(data, EditionConfig, "edition.config.json")
    assert str(caught.value) == (
        "edition.config.json: editions[0].slos.latencyP59: expected a known field name "
        "(did you mean 'latencyP99', 'latencyP95' or 'latencyP50'?)"
    )


ANNOTATIONS = {
    "moduleId": "CheckoutService",
    "annotations": [
        {"thresholds": {"latencyMs": {"p95": 600, "p99": 900}, "errorRateMax": 0.02}, "ignore": ["cpu"]},
        {"editionId": "vetclinic", "thresholds": {"latencyP95": 700}, "excludeFromGate": True},
        {
            "editionId": "vetclinic",
            "testType": "spike",
            "thresholds": {"latencyP95": 900},
            "excludeFromGate": False,
        },
        {"editionId": "vetclinic", "testType": "soak", "scoreOverride": True, "overrideStatus": "pass"},
        {"moduleId": "NotificationService", "run": ["soak", "spike"], "retryOnFail": True},
        {"run": ["soak", "stress"], "retryWith": {"rps": 80, "duration": "3m"}, "reason": "flaky infra"},
    ],
    "studioRevision": 7,
}


def test_annotation_overrides_most_specific_wins_per_limit() -> None:
    doc = validate_document(ANNOTATIONS, StudioAnnotations, "studio.annotation.yaml")
    spike = doc.overrides_for("CheckoutService", "vetclinic", "spike")
    assert spike is not None
    assert (spike.latency_limit("p95"), spike.latency_limit("p99"), spike.error_rate_max) == (900, 900, 0.02)
    load = doc.overrides_for("CheckoutService", "vetclinic", "load")
    assert load is not None
    assert load.latency_limit("p95") == 700
    premium = doc.overrides_for("CheckoutService", "vetclinic-premium", "load")
    assert premium is not None
    assert premium.latency_limit("p95") == 600
    assert doc.overrides_for("NotificationService", "vetclinic", "load") is None


def test_annotation_flags() -> None:
    doc = validate_document(ANNOTATIONS, StudioAnnotations, "studio.annotation.yaml")
    load = doc.flags_for("CheckoutService", "vetclinic", "load")
    assert (load.exclude_from_gate, load.ignore, load.override_status) == (True, frozenset({"cpu"}), None)
    assert load.retry_with is not None
    assert load.retry_with.duration == 180
    assert load.reasons == ("flaky infra",)
    spike = doc.flags_for("CheckoutService", "vetclinic", "spike")
    assert spike.exclude_from_gate is False
    soak = doc.flags_for("CheckoutService", "vetclinic", "soak")
    assert soak.override_status == "pass"
    notify = doc.flags_for("NotificationService", "vetclinic", "load")
    assert (notify.retry_on_fail, notify.ignore, notify.exclude_from_gate) == (True, frozenset(), False)


def test_annotation_requested_tests() -> None:
    doc = validate_document(ANNOTATIONS, StudioAnnotations, "studio.annotation.yaml")
    # The last directive names no module, so it takes the document's: CheckoutService.
    assert doc.requested_tests("NotificationService", "vetclinic") == ["soak", "spike"]
    assert doc.requested_tests("CheckoutService", "vetclinic") == ["soak", "stress"]
    assert doc.requested_tests("AppointmentsService", "vetclinic") == []


def test_annotation_round_trip_keeps_studio_fields() -> None:
    doc = validate_document(ANNOTATIONS, StudioAnnotations, "studio.annotation.yaml")
    assert _dump(doc) == ANNOTATIONS  # retryWith.duration "3m" included


def test_merge_limits_flattens_latency_and_merges_regression() -> None:
    general = ThresholdLimits.model_validate(
        {"latencyMs": {"p95": 500}, "regression": {"p95": 0.25, "rps": 0.2}}
    )
    specific = ThresholdLimits.model_validate({"latencyP99": 900, "regression": {"p95": 0.1}})
    merged = merge_limits([general, specific])
    assert merged is not None
    assert merged.model_dump(mode="json", by_alias=True, exclude_none=True) == {
        "latencyP95": 500,
        "latencyP99": 900,
        "regression": {"p95": 0.1, "rps": 0.2},
    }
    assert merge_limits([]) is None


WEIGHTING = {
    "weightings": [
        {"moduleId": "NotificationService", "weights": {"throughput": 0.15, "resourceUtilization": 0.2}},
        {"moduleId": "NotificationService", "testType": "soak", "weights": {"baselineDelta": 0.2}},
        {"editionId": "vetclinic", "weights": {"latency": 0.4}},
    ],
}


def test_weighting_entries_least_specific_first() -> None:
    doc = validate_document(WEIGHTING, CustomWeighting, "customWeighting.yaml")
    found = doc.matching("NotificationService", "vetclinic", "soak")
    assert [e.weights.given() for e in found] == [
        {"throughput": 0.15, "resource_utilization": 0.2},
        {"latency": 0.4},
        {"baseline_delta": 0.2},
    ]
    assert [e.weights.given() for e in doc.matching("CheckoutService", "vetclinic-premium", "load")] == []
    assert _dump(doc) == WEIGHTING


def test_weighting_scopes_are_unique() -> None:
    data = {
        "weightings": [
            {"moduleId": "M", "weights": {"latency": 0.5}},
            {"moduleId": "M", "weights": {"latency": 0.4}},
        ]
    }
    with pytest.raises(InputError) as caught:
        validate_document(data, CustomWeighting, "customWeighting.yaml")
    assert "weightings: expected one entry per scope (module/edition/testType M/*/* repeats)" in str(
        caught.value
    )


def test_observability_config() -> None:
    data = {
        "moduleId": "CheckoutService",
        "process": {"port": 8080, "name": "uvicorn"},
        "samplingInterval": "250ms",
        "metrics": [
            {"source": "prometheus", "url": "http://127.0.0.1:9464/metrics/", "scrapeJob": "checkout"}
        ],
        "logs": [{"source": "file", "path": "logs/checkout.log", "enabled": False}],
    }
    config = validate_document(data, ObservabilityConfig, "observability.config.yaml")
    assert config.interval_seconds() == 0.25
    assert config.process is not None
    assert config.process.port == 8080
    assert config.logs is not None
    assert not config.logs[0].is_enabled
    assert _dump(config) == data
    assert ObservabilityConfig().interval_seconds(1.0) == 1.0


def test_trace_plan_flows() -> None:
    data = {
        "traceId": "proj-933-checkout",
        "feature": "Book appointment",
        "flows": [
            {
                "name": "book-and-notify",
                "steps": [
                    {"moduleId": "AppointmentsService", "endpoint": "/appointments/book", "method": "post"},
                    {"moduleId": "NotificationService", "event": "AppointmentBooked"},
                ],
                "owner": "team-clinic",
            },
            {"name": "checkout", "modules": ["CheckoutService"]},
        ],
    }
    plan = validate_document(data, TracePlan, "trace.plan.yaml")
    assert [f.name for f in plan.flows_for(module_id="NotificationService")] == ["book-and-notify"]
    assert [f.name for f in plan.flows_for(endpoint="/appointments/book")] == ["book-and-notify"]
    assert [f.name for f in plan.flows_for(module_id="CheckoutService")] == ["checkout"]
    flow = plan.flow("book-and-notify")
    assert flow is not None
    assert flow.endpoints() == ["/appointments/book"]
    dumped = _dump(plan)
    assert dumped["flows"][0]["owner"] == "team-clinic"
    assert dumped["flows"][0]["steps"][0]["method"] == "POST"
