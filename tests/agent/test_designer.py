"""The deterministic designer: endpoints, bodies, test types per edition tier, rates from metadata and
memory, thresholds from the SLOs. Small OpenAPI documents are written per test; the vet-clinic sample is
used where its real contract matters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sk_loadagent.agent.designer import DesignRequest, design
from sk_loadagent.agent.openapi import load_openapi
from sk_loadagent.errors import InputError
from sk_loadagent.memory import MemoryStore, RunRecord, SeriesKey, open_store
from sk_loadagent.models.annotation import StudioAnnotations
from sk_loadagent.models.edition import EditionConfig
from sk_loadagent.models.loading import load_document
from sk_loadagent.models.metadata import ServiceMetadata
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.sample_service import samples_dir

VETCLINIC = samples_dir() / "vetclinic"
PETS_API: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "pets", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:{port}", "variables": {"port": {"default": "9100"}}}],
    "paths": {
        "/pets/{petId}/visits": {
            "parameters": [{"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}}],
            "post": {
                "tags": ["PetService"],
                "operationId": "addVisit",
                "parameters": [
                    {
                        "name": "clinic",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 3},
                    },
                    {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
                ],
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Visit"}}}
                },
                "responses": {"201": {"description": "booked"}},
            },
        },
        "/pets/export": {
            "post": {
                "tags": ["PetService"],
                "operationId": "exportPets",
                "responses": {"202": {"description": "queued"}},
            }
        },
        "/health": {"get": {"operationId": "health", "responses": {"200": {"description": "up"}}}},
    },
    "components": {
        "schemas": {
            "Visit": {
                "type": "object",
                "required": ["slot", "kind"],
                "additionalProperties": False,
                "properties": {
                    "slot": {"type": "string", "format": "date-time"},
                    "kind": {"type": "string", "enum": ["checkup", "surgery"]},
                    "weightKg": {"type": "number", "minimum": 0.5, "nullable": True},
                    "notes": {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 8}},
                    "tenantId": {"type": "string"},
                },
            }
        }
    },
}
PETS_METADATA = {"moduleId": "PetService", "resources": {"cpuCores": 2}, "endpoints": [{"path": "/health"}]}


def request_for(
    api: dict[str, Any],
    tmp_path: Path,
    *,
    metadata: dict[str, Any] = PETS_METADATA,
    editions: dict[str, Any] | None = None,
    edition_id: str | None = None,
    store: MemoryStore | None = None,
) -> DesignRequest:
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(api, sort_keys=False), encoding="utf-8")
    return DesignRequest(
        openapi=load_openapi(path),
        metadata=ServiceMetadata.model_validate(metadata),
        editions=EditionConfig.model_validate(editions) if editions else None,
        edition_id=edition_id,
        store=store,
    )


def vetclinic(edition_id: str, store: MemoryStore | None = None) -> DesignRequest:
    return DesignRequest(
        openapi=load_openapi(VETCLINIC / "generated.api.yaml"),
        metadata=load_document(VETCLINIC / "service.metadata.yaml", ServiceMetadata),
        editions=load_document(VETCLINIC / "edition.config.json", EditionConfig),
        edition_id=edition_id,
        annotations=load_document(VETCLINIC / "studio.annotation.yaml", StudioAnnotations),
        store=store,
    )


def shapes(plan: TestSuitePlan) -> list[tuple[str, str | None, str | None, float | None]]:
    return [(t.type, t.method, t.endpoint, t.rps) for t in plan.tests]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    with open_store(tmp_path / "memory.sqlite") as opened:
        yield opened


def test_the_vetclinic_base_edition_gets_a_load_and_a_spike_test_on_its_business_endpoint() -> None:
    suite = design(vetclinic("vetclinic"))

    # 50 rps per allocated core (cpuCores 1); the spike goes from half to twice that.
    assert shapes(suite.plan) == [
        ("load", "POST", "/checkout/submit", 50.0),
        ("spike", "POST", "/checkout/submit", 100.0),
    ]
    assert suite.plan.tests[1].baseline_rps == 25.0
    example = yaml.safe_load((VETCLINIC / "generated.api.yaml").read_text())["paths"]["/checkout/submit"]
    assert (
        suite.plan.tests[0].body == example["post"]["requestBody"]["content"]["application/json"]["example"]
    )
    assert suite.left_out == ["queue CheckoutSubmitted (servicebus): the engine drives HTTP only"]


def test_a_premium_edition_adds_a_soak_and_its_slos_become_thresholds() -> None:
    suite = design(vetclinic("vetclinic-premium"))

    assert [t.type for t in suite.plan.tests] == ["load", "spike", "soak"]
    assert suite.thresholds is not None
    assert suite.thresholds.to_wire() == {
        "module": "CheckoutService",
        "editionId": "vetclinic-premium",
        "thresholds": {
            "latencyP95": 650.0,
            "latencyP99": 1200.0,
            "errorRateMax": 0.01,
            "cpuUsageMax": 90.0,
            "memoryUsageMax": 768.0,
        },
    }
    text = suite.to_yaml()
    assert "# Rates and durations are the base edition's: a run with edition vetclinic-premium scales" in text


def test_the_written_plan_is_valid_input_with_a_comment_for_each_choice(tmp_path: Path) -> None:
    path = tmp_path / "designed.plan.yaml"
    path.write_text(design(vetclinic("vetclinic")).to_yaml(), encoding="utf-8")

    plan = load_document(path, TestSuitePlan)

    assert [t.name for t in plan.tests] == ["submitCheckout-load", "submitCheckout-spike"]
    lines = path.read_text().splitlines()
    test_lines = [i for i, line in enumerate(lines) if line.startswith("  - type:")]
    for at in test_lines:
        assert lines[at - 1].startswith("  # ")
    assert "  # 50 rps: no stored baseline; 50 rps per allocated CPU core (1 in service.metadata)" in lines


def test_path_and_query_parameters_and_a_body_built_from_the_schema(tmp_path: Path) -> None:
    suite = design(request_for(PETS_API, tmp_path))

    test, spike = suite.plan.tests
    assert (spike.type, spike.endpoint, spike.body) == ("spike", test.endpoint, test.body)
    # The path parameter has no example: a string sample; the query's minimum is 3; the optional one is
    # left out. The body satisfies the schema: formats, enums, minimum, minItems and minLength.
    assert (test.method, test.endpoint) == ("POST", "/pets/sample/visits?clinic=3")
    assert test.body == {
        "slot": "2025-01-01T09:30:00Z",
        "kind": "checkup",
        "weightKg": 1.0,
        "notes": ["samplexx", "samplexx"],
        "tenantId": "sample",
    }
    assert "body: built from the schema" in suite.tests[0].why
    assert suite.plan.base_url == "http://127.0.0.1:9100"
    assert suite.left_out == [
        "POST /pets/export: an async surface (202 or callbacks); enterprise editions test it"
    ]


def test_an_example_that_breaks_its_schema_is_replaced_and_the_comment_says_why(tmp_path: Path) -> None:
    api = json.loads(json.dumps(PETS_API))
    media = api["paths"]["/pets/{petId}/visits"]["post"]["requestBody"]["content"]["application/json"]
    media["example"] = {"slot": "2025-02-02T10:00:00Z", "kind": "grooming"}

    suite = design(request_for(api, tmp_path))

    assert suite.plan.tests[0].body["kind"] == "checkup"  # type: ignore[index]
    assert (
        "body: built from the schema (the document's example does not satisfy it: kind: 'grooming' is not "
        "one of ['checkup', 'surgery'])"
    ) in suite.tests[0].why


def test_an_enterprise_edition_tests_the_async_surface_and_stresses_the_primary_endpoint(
    tmp_path: Path,
) -> None:
    editions = {"editions": [{"editionId": "pets-enterprise", "trafficModel": {"rpsScale": 2}}]}

    suite = design(request_for(PETS_API, tmp_path, editions=editions, edition_id="pets-enterprise"))

    assert shapes(suite.plan) == [
        ("load", "POST", "/pets/sample/visits?clinic=3", 100.0),
        ("spike", "POST", "/pets/sample/visits?clinic=3", 200.0),
        ("soak", "POST", "/pets/sample/visits?clinic=3", 100.0),
        ("stress", "POST", "/pets/sample/visits?clinic=3", 100.0),
        ("load", "POST", "/pets/export", 100.0),
    ]
    assert suite.plan.tests[3].max_rps == 200.0


def test_a_multi_tenant_lite_edition_decorates_requests_and_runs_fewer_sessions(tmp_path: Path) -> None:
    editions = {
        "editions": [
            {
                "editionId": "multitenant-lite",
                "testTypes": ["load", "concurrency"],
                "trafficModel": {"rpsScale": 0.5},
            }
        ]
    }

    suite = design(request_for(PETS_API, tmp_path, editions=editions, edition_id="multitenant-lite"))

    load, sessions = suite.plan.tests
    assert (load.type, sessions.type, sessions.vus) == ("load", "concurrency", 5)
    assert load.headers == {"X-Tenant-Id": "multitenant-lite-tenant-1"}
    assert load.body["tenantId"] == "multitenant-lite-tenant-1"  # type: ignore[index]


def test_the_edition_test_types_leave_out_what_the_tier_would_add(tmp_path: Path) -> None:
    editions = {"editions": [{"editionId": "pets-premium", "testTypes": ["load", "latency"]}]}

    suite = design(request_for(PETS_API, tmp_path, editions=editions, edition_id="pets-premium"))

    assert [t.type for t in suite.plan.tests] == ["load"]
    assert "spike tests: edition pets-premium runs only load, latency" in suite.left_out
    assert "soak tests: edition pets-premium runs only load, latency" in suite.left_out


def test_rates_come_from_the_stored_baseline_and_the_last_breaking_point(store: MemoryStore) -> None:
    key = SeriesKey("vetclinic-premium", "CheckoutService", "load", "/checkout/submit")
    # Measured under the premium edition, which runs 1.2 x the plan's rates: 96 rps is 80 at base.
    store.push(RunRecord(**key.__dict__, status="pass", performance_score=1.0, rps=96.0, is_baseline=True))
    stress = {"stress": {"steps": [], "breakingPointRps": 120.0}}
    store.push(
        RunRecord(
            edition_id="vetclinic-premium",
            module_id="CheckoutService",
            test_type="stress",
            endpoint="/checkout/submit",
            status="pass",
            metrics=stress,
        )
    )

    suite = design(vetclinic("vetclinic-premium", store))

    # Base 80, capped at half the breaking point (120 / 1.2 = 100 at base): 50; the spike's peak (2 x 50)
    # stays under the breaking point.
    assert shapes(suite.plan)[:2] == [
        ("load", "POST", "/checkout/submit", 50.0),
        ("spike", "POST", "/checkout/submit", 100.0),
    ]
    assert suite.tests[0].why[1] == (
        "50 rps: the stored baseline ran at 96 rps (x1.2 for the edition: 80 at base); capped at half the "
        "last stress breaking point (100 rps)"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"openapi": "2.0"},
            "api.yaml: openapi: expected an OpenAPI 3 version such as 3.0.3 or 3.1.0, got '2.0'",
        ),
        (
            {"paths": {}},
            "api.yaml: paths: expected a mapping of paths to operations, got {}",
        ),
    ],
)
def test_a_document_that_is_not_openapi_3_is_refused(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError) as caught:
        request_for({**PETS_API, **change}, tmp_path)

    assert str(caught.value) == f"{tmp_path}/{message}"


def test_an_operation_with_an_unresolvable_ref_is_named(tmp_path: Path) -> None:
    api = json.loads(json.dumps(PETS_API))
    del api["components"]["schemas"]["Visit"]

    with pytest.raises(InputError) as caught:
        design(request_for(api, tmp_path))

    assert str(caught.value) == (
        f"{tmp_path}/api.yaml: paths./pets/{{petId}}/visits.post.requestBody.content.application/json.schema"
        ".$ref: expected a reference to a definition in this document, got '#/components/schemas/Visit', "
        "which does not exist"
    )


def test_a_module_without_operations_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        design(request_for(PETS_API, tmp_path, metadata={"moduleId": "BillingService"}))

    assert str(caught.value) == (
        f"{tmp_path}/api.yaml: paths: expected operations of BillingService: tagged BillingService, with "
        "x-moduleId BillingService, or listed in service.metadata.yaml's endpoints, got none"
    )
