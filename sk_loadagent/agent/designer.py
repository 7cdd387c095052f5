"""The deterministic designer: a test-suite plan from an OpenAPI document and service metadata, shaped by
the edition and by memory, with no LLM (spec cycles 5, 6 and 14).

- **Endpoints**: the module's operations (tagged with the module, or ``x-moduleId``; else the paths
  service.metadata.yaml lists), with path and required query/header parameters filled in.
- **Bodies**: the document's example when it satisfies its schema, else a value built from the schema;
  multi-tenant editions get a tenant header and a ``tenantId`` field where the schema allows one.
- **Test types** by the edition's tier (cycle 14): lite editions run load and concurrency (fewer virtual
  users), standard ones load and spike, premium ones add soak, enterprise ones add stress and the async
  surfaces (operations that answer 202 or declare callbacks). The edition's ``testTypes`` and Studio's
  ``run:`` are applied on top.
- **Rates**: the base rate comes from memory (the baseline's measured rate, divided back by the edition's
  rpsScale) or from the CPU cores service.metadata.yaml allocates, and never above half the last stress
  breaking point. Plans hold base-edition rates: runs apply the edition's trafficModel (rpsScale,
  durationScale), so the same plan serves every edition.
- **Thresholds**: the edition's SLOs, as a perf-thresholds document for the module and edition.

Every choice becomes a comment in the written plan.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

import yaml

from sk_loadagent.agent.bodies import sample_for
from sk_loadagent.agent.openapi import OpenApiDocument, Operation, RequestBody, load_openapi
from sk_loadagent.errors import InputError
from sk_loadagent.memory import MemoryStore, SeriesKey
from sk_loadagent.models.annotation import StudioAnnotations
from sk_loadagent.models.edition import Edition, EditionConfig
from sk_loadagent.models.loading import load_document
from sk_loadagent.models.metadata import ServiceMetadata
from sk_loadagent.models.plan import TestSpec, TestSuitePlan, TestType, check_base_url
from sk_loadagent.models.thresholds import PerfThresholds
from sk_loadagent.suite.editions import DEFAULT_RATE, DEFAULT_VUS, derived_test

Tier = Literal["lite", "standard", "premium", "enterprise"]
TIERS: tuple[Tier, ...] = ("lite", "standard", "premium", "enterprise")
TIER_TYPES: dict[str, tuple[TestType, ...]] = {
    "lite": ("load", "concurrency"),
    "standard": ("load", "spike"),
    "premium": ("load", "spike", "soak"),
    "enterprise": ("load", "spike", "soak", "stress"),
}
LITE_VUS = 5
# Without a measured rate, a starting point per allocated CPU core: low enough for a small service to
# hold, so the first run measures rather than overloads; memory replaces it after the first baseline.
RPS_PER_CORE = 50.0
TENANT_HEADER = "X-Tenant-Id"
SOURCE_AGENT = "sk-loadagent design"


@dataclass(frozen=True)
class DesignRequest:
    """What the designer reads. Only ``openapi`` and ``metadata`` are required."""

    openapi: OpenApiDocument
    metadata: ServiceMetadata
    editions: EditionConfig | None = None
    edition_id: str | None = None
    annotations: StudioAnnotations | None = None
    store: MemoryStore | None = None
    test_types: tuple[TestType, ...] | None = None


@dataclass
class DesignedTest:
    test: TestSpec
    why: list[str]


@dataclass
class DesignedSuite:
    """The plan with the reasons for each choice, and the thresholds the edition's SLOs set."""

    plan: TestSuitePlan
    tests: list[DesignedTest]
    header: list[str]
    left_out: list[str] = field(default_factory=list)
    thresholds: PerfThresholds | None = None

    def to_yaml(self) -> str:
        """The plan as YAML, each choice explained in a comment above it."""
        lines = _comments(self.header, "")
        if self.left_out:
            lines += _comments(["Left out:", *(f"- {item}" for item in self.left_out)], "")
        top = {k: v for k, v in _wire(self.plan).items() if k != "tests"}
        lines += yaml.safe_dump(top, sort_keys=False, allow_unicode=True).splitlines()
        lines.append("tests:")
        for designed in self.tests:
            lines += _comments(designed.why, "  ")
            test = _wire(designed.test)
            if "body" in test:  # the schedule first, the (often long) body last
                test["body"] = test.pop("body")
            dumped = yaml.safe_dump([test], sort_keys=False, allow_unicode=True, width=100)
            lines += ["  " + line for line in dumped.splitlines()]
        return "\n".join(lines) + "\n"

    def thresholds_yaml(self) -> str | None:
        if self.thresholds is None:
            return None
        head = _comments([f"Limits from edition {self.thresholds.edition_id}'s SLOs ({SOURCE_AGENT})."], "")
        body = yaml.safe_dump(_tidy(self.thresholds.to_wire()), sort_keys=False)
        return "\n".join(head) + "\n" + body


def _comments(texts: list[str], indent: str) -> list[str]:
    out = []
    for text in texts:
        wrapped = textwrap.wrap(
            text,
            width=108 - len(indent),
            subsequent_indent="  ",
            break_on_hyphens=False,
            break_long_words=False,
        ) or [""]
        out += [f"{indent}# {line}".rstrip() for line in wrapped]
    return out


def _wire(model: TestSuitePlan | TestSpec) -> dict[str, Any]:
    """The model as the plan file spells it, without the fields left at their defaults."""
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    tidy: dict[str, Any] = _tidy(data)
    return tidy


def _tidy(value: Any) -> Any:
    """Whole floats as ints (``50`` rather than ``50.0``), for a plan that reads as a person writes it."""
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- the edition ----------------------------------------------------------------------------------------


def edition_tier(edition_id: str | None, edition: Edition | None) -> tuple[Tier, str]:
    """The edition's tier and how it was found: its ``tier`` field, else a word in its id."""
    declared = (edition.model_extra or {}).get("tier") if edition is not None else None
    for tier in TIERS:
        if declared == tier:
            return tier, f"its tier field says {tier}"
    name = (edition_id or "").lower()
    for tier in TIERS:
        if tier != "standard" and tier in name:
            return tier, f"its id names the {tier} tier"
    return "standard", "no lite, premium or enterprise in its id"


def multi_tenant(edition_id: str | None, edition: Edition | None) -> bool:
    declared = (edition.model_extra or {}).get("multiTenant") if edition is not None else None
    if isinstance(declared, bool):
        return declared
    name = (edition_id or "").lower()
    return "multitenant" in name or "multi-tenant" in name


# -- rates -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateBasis:
    rate: float
    why: str
    breaking_point: float | None = None


def _nice(rate: float) -> float:
    """Two significant figures: 37.5 -> 38, 1234 -> 1200 (a designed rate is a round number)."""
    if rate <= 0:
        return rate
    digits = len(str(int(rate))) - 2
    return float(round(rate, -digits if digits > 0 else 1 if rate < 10 else 0))


def _memory_rates(
    store: MemoryStore, module_id: str, edition_id: str | None, endpoint: str, scale: float
) -> tuple[float | None, float | None]:
    """The baseline's measured rate and the last stress breaking point, both as base-edition rates."""
    baseline = store.baseline(SeriesKey(edition_id, module_id, "load", endpoint))
    measured = baseline.rps / scale if baseline is not None and baseline.rps else None
    stress_runs = store.series(SeriesKey(edition_id, module_id, "stress", endpoint), limit=1)
    breaking = None
    if stress_runs:
        found = (stress_runs[-1].metrics.get("stress") or {}).get("breakingPointRps")
        breaking = float(found) / scale if isinstance(found, int | float) and found > 0 else None
    return measured, breaking


def base_rate(request: DesignRequest, endpoint: str, scale: float) -> RateBasis:
    """The rate the service should hold on ``endpoint``, as the base edition runs it."""
    module = request.metadata.module
    measured = breaking = None
    if request.store is not None:
        measured, breaking = _memory_rates(request.store, module, request.edition_id, endpoint, scale)
    cores = request.metadata.cpu_quota_cores()
    if measured is not None:
        rate, why = _nice(measured), f"the stored baseline ran at {measured * scale:g} rps"
        if scale != 1.0:
            why += f" (x{scale:g} for the edition: {measured:g} at base)"
    elif cores is not None:
        rate = _nice(RPS_PER_CORE * cores)
        why = (
            f"no stored baseline; {RPS_PER_CORE:g} rps per allocated CPU core ({cores:g} in service.metadata)"
        )
    else:
        rate, why = DEFAULT_RATE, "no stored baseline and no CPU allocation in service.metadata"
    if breaking is not None and rate > breaking / 2:
        rate = _nice(breaking / 2)
        why += f"; capped at half the last stress breaking point ({breaking:g} rps)"
    return RateBasis(rate, why, breaking)


# -- operations ------------------------------------------------------------------------------------------


def module_operations(request: DesignRequest) -> tuple[list[Operation], str]:
    """The module's operations and how they were picked."""
    module = request.metadata.module
    operations = list(request.openapi.operations())
    owned = [op for op in operations if op.belongs_to(module)]
    if owned:
        return owned, f"the operations tagged {module} (or with x-moduleId {module})"
    listed = {(e.method, e.path) for e in request.metadata.endpoints}
    owned = [op for op in operations if (op.method, op.path) in listed]
    if owned:
        return owned, "the operations service.metadata.yaml lists"
    raise InputError.single(
        request.openapi.source,
        "paths",
        f"operations of {module}: tagged {module}, with x-moduleId {module}, or listed in "
        "service.metadata.yaml's endpoints",
        "none",
    )


def _parameter_value(request: DesignRequest, param: Any) -> str:
    sample = sample_for(request.openapi, param.schema or {"type": "string"}, param.example, param.where)
    value = sample.value
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Route:
    fields: dict[str, Any]
    why: list[str]


def route_for(request: DesignRequest, op: Operation, tenant: str | None) -> Route:
    """Endpoint (path parameters filled, required query parameters added), method, headers and body."""
    why = [f"{op.label}" + (f" ({op.operation_id}: {op.summary})" if op.operation_id and op.summary else "")]
    path = op.path
    query: dict[str, str] = {}
    headers: dict[str, str] = {}
    for param in op.parameters:
        if not param.required:
            continue
        value = _parameter_value(request, param)
        if param.location == "path":
            path = path.replace("{" + param.name + "}", quote(value, safe=""))
        elif param.location == "query":
            query[param.name] = value
        elif param.location == "header":
            headers[param.name] = value
        else:
            why.append(f"required cookie {param.name} is not sent (plans set headers only)")
    if any(p.location == "path" for p in op.parameters):
        why.append(f"path parameters from their examples or schemas: {path}")
    endpoint = path + ("?" + urlencode(query) if query else "")
    fields: dict[str, Any] = {"endpoint": endpoint, "method": op.method}
    if op.request_body is not None:
        body, body_why = _body(request, op.request_body, tenant)
        fields.update(body)
        why += body_why
    if tenant is not None:
        headers[TENANT_HEADER] = tenant
        why.append(f"multi-tenant edition: requests carry {TENANT_HEADER}: {tenant}")
    if headers:
        fields["headers"] = headers
    return Route(fields, why)


def _body(request: DesignRequest, body: RequestBody, tenant: str | None) -> tuple[dict[str, Any], list[str]]:
    """The ``body`` field of a test (empty for a body that is not JSON) and why it is what it is."""
    if not body.media_type.split(";")[0].strip().endswith("json"):
        return {}, [f"request body {body.media_type}: not built (only JSON bodies are)"]
    sample = sample_for(request.openapi, body.schema, body.example, body.where)
    value = sample.value
    if tenant is not None and isinstance(value, dict) and _takes_tenant(request, body.schema):
        value = {**value, "tenantId": tenant}
    why = [f"body: {sample.origin}"]
    if sample.problem is not None:
        why.append(f"WARNING: the body does not satisfy its schema ({sample.problem}); edit it")
    return {"body": value}, why


def _takes_tenant(request: DesignRequest, schema: dict[str, Any] | None) -> bool:
    """Whether a JSON object body may carry ``tenantId``: declared, or extra properties not forbidden."""
    resolved = request.openapi.resolve(schema, "requestBody") if schema is not None else None
    if not isinstance(resolved, dict):
        return False
    return (
        "tenantId" in (resolved.get("properties") or {}) or resolved.get("additionalProperties") is not False
    )


# -- the suite -------------------------------------------------------------------------------------------


def _type_plan(
    request: DesignRequest, edition: Edition | None, tier: Tier
) -> tuple[list[TestType], list[str], list[str]]:
    """The test types for the primary endpoint: why each is in, and what was left out."""
    chosen: list[TestType] = list(request.test_types or TIER_TYPES[tier])
    why = [f"test types {', '.join(chosen)}" + (" (asked for)" if request.test_types else f" ({tier} tier)")]
    left_out: list[str] = []
    if request.annotations is not None:
        for test_type in request.annotations.requested_tests(request.metadata.module, request.edition_id):
            if test_type not in chosen:
                chosen.append(test_type)
                why.append(f"{test_type}: Studio asks for it (run: [{test_type}])")
    if edition is not None and edition.test_types is not None:
        for test_type in [t for t in chosen if not edition.enables(t)]:
            left_out.append(
                f"{test_type} tests: edition {edition.edition_id} runs only {', '.join(edition.test_types)}"
            )
        chosen = [t for t in chosen if edition.enables(t)]
    if "custom" in chosen:
        chosen.remove("custom")
        left_out.append("custom test: only a person can shape its stages")
    return chosen, why, left_out


def _shape_why(test: TestSpec, basis: RateBasis) -> str:
    breaking = basis.breaking_point
    if test.type == "spike" and test.rps is not None:
        peak = "the last stress breaking point" if test.rps < 2 * basis.rate else "twice the base rate"
        return f"spike from {test.baseline_rps:g} to {test.rps:g} rps ({peak}), then recovery"
    if test.type == "stress":
        top = f"1.5 x the last breaking point, {breaking:g} rps" if breaking else "twice the base rate"
        return f"stress in steps up to {test.max_rps:g} rps ({top}); design limit {test.rps:g} rps"
    if test.type == "concurrency":
        return f"{test.vus} concurrent sessions with 1 s think time"
    if test.type == "soak":
        return f"soak at the base rate {test.rps:g} rps"
    if test.type == "latency":
        return "payload sweep 0 B to 128 KiB"
    return f"{basis.rate:g} rps: {basis.why}"


def _adjusted(test: TestSpec, basis: RateBasis) -> TestSpec:
    """Memory's breaking point bounds the spike's peak and sets how far stress climbs."""
    if basis.breaking_point is None:
        return test
    if test.type == "spike" and test.rps is not None and test.rps > basis.breaking_point:
        return test.model_copy(update={"rps": _nice(basis.breaking_point)})
    if test.type == "stress":
        return test.model_copy(update={"max_rps": _nice(1.5 * basis.breaking_point)})
    return test


def design(request: DesignRequest) -> DesignedSuite:
    """Design a plan for the metadata's module and the request's edition."""
    module = request.metadata.module
    edition = request.editions.edition(request.edition_id) if request.editions is not None else None
    if edition is not None and not edition.covers(module):
        raise InputError.single(
            "edition",
            str(request.edition_id),
            f"an edition that covers {module} (this one covers {', '.join(edition.modules or [])})",
        )
    tier, tier_why = edition_tier(request.edition_id, edition)
    traffic = edition.traffic_model if edition is not None else None
    scale = traffic.rps_scale if traffic is not None and traffic.rps_scale else 1.0
    vus = traffic.concurrency if traffic is not None and traffic.concurrency else None
    vus = vus or (LITE_VUS if tier == "lite" else DEFAULT_VUS)
    tenant = f"{request.edition_id}-tenant-1" if multi_tenant(request.edition_id, edition) else None
    operations, picked = module_operations(request)
    header = [
        f"{module} test suite, designed by {SOURCE_AGENT} from {request.openapi.source} and the service "
        "metadata; every choice is explained above it. Valid input for sk-loadagent run and plan.",
        f"Endpoints: {picked}.",
    ]
    left_out: list[str] = []
    usable = []
    for op in operations:
        if op.deprecated:
            left_out.append(f"{op.label}: deprecated")
        elif op.is_async and tier != "enterprise":
            left_out.append(f"{op.label}: an async surface (202 or callbacks); enterprise editions test it")
        else:
            usable.append(op)
    if not usable:
        raise InputError.single(
            request.openapi.source, "paths", f"an operation of {module} that can be load-tested", "none"
        )
    default = request.metadata.default_endpoint()
    primary = next((op for op in usable if default is not None and op.path == default.path), usable[0])
    types, types_why, types_left = _type_plan(request, edition, tier)
    left_out += types_left
    if request.edition_id is not None:
        header.append(
            f"Edition {request.edition_id}: {tier} tier ({tier_why}); " + "; ".join(types_why) + "."
        )
        if traffic is not None and {traffic.rps_scale, traffic.duration_scale} - {None, 1.0}:
            header.append(
                f"Rates and durations are the base edition's: a run with edition {request.edition_id} scales "
                f"rates x{traffic.rps_scale or 1:g} and durations x{traffic.duration_scale or 1:g} "
                "(its trafficModel)."
            )
    for queue in request.metadata.queues or []:
        left_out.append(f"queue {queue.name} ({queue.kind or 'unknown kind'}): the engine drives HTTP only")
    tests: list[DesignedTest] = []
    for op in [primary, *[o for o in usable if o is not primary]]:
        # Every endpoint gets a load test; the other types run on the primary one only, so a suite's
        # length grows with its endpoints, not with endpoints times types.
        here = types if op is primary else [t for t in types if t == "load"]
        if not here:
            left_out.append(f"{op.label}: only the primary endpoint is tested when load tests are not run")
            continue
        route = route_for(request, op, tenant)
        basis = base_rate(request, route.fields["endpoint"], scale)
        for test_type in here:
            shaped = derived_test(
                test_type, basis.rate, vus=vus, name=f"{_slug(op)}-{test_type}", route=route.fields
            )
            if shaped is not None:
                test = _adjusted(shaped, basis)
                why = [f"{test_type} on {route.why[0]}", _shape_why(test, basis), *route.why[1:]]
                tests.append(DesignedTest(test, why))
    if not tests:
        raise InputError.single(
            request.openapi.source, "paths", f"a test type edition {request.edition_id} runs", "none left"
        )
    plan = TestSuitePlan.model_validate(
        {
            "moduleId": module,
            "editionId": request.edition_id,
            "sourceAgent": SOURCE_AGENT,
            "baseUrl": _base_url(request),
            "tests": [t.test.to_wire() for t in tests],
        }
    )
    thresholds = None
    if edition is not None and edition.slos is not None:
        thresholds = PerfThresholds.model_validate(
            {"module": module, "editionId": edition.edition_id, "thresholds": edition.slos.to_wire()}
        )
        header.append(f"Judged by edition {edition.edition_id}'s SLOs: {_limits_text(thresholds)}.")
    return DesignedSuite(plan=plan, tests=tests, header=header, left_out=left_out, thresholds=thresholds)


def _slug(op: Operation) -> str:
    if op.operation_id:
        return op.operation_id
    parts = [p for p in op.path.strip("/").split("/") if p and not p.startswith("{")]
    return "-".join(parts) or "root"


def _limits_text(thresholds: PerfThresholds) -> str:
    limits = thresholds.to_wire()["thresholds"]
    return ", ".join(f"{name} {value:g}" for name, value in limits.items() if isinstance(value, int | float))


def _base_url(request: DesignRequest) -> str | None:
    """service.metadata's baseUrl, else the document's first server (its variables at their defaults)."""
    if request.metadata.base_url:
        return request.metadata.base_url
    servers = request.openapi.data.get("servers") or []
    if not servers or not isinstance(servers[0], dict) or not isinstance(servers[0].get("url"), str):
        return None
    url: str = servers[0]["url"]
    for name, variable in (servers[0].get("variables") or {}).items():
        if isinstance(variable, dict) and "default" in variable:
            url = url.replace("{" + name + "}", str(variable["default"]))
    try:
        return check_base_url(url)
    except ValueError:
        return None


def design_from_files(
    openapi: str | Path,
    metadata: str | Path,
    *,
    editions: str | Path | None = None,
    edition_id: str | None = None,
    annotations: str | Path | None = None,
    store: MemoryStore | None = None,
    test_types: Sequence[TestType] | None = None,
) -> DesignedSuite:
    """Design from the files as the CLI and the LoadAgent plugin name them. The edition defaults to the first
    one the metadata lists; an edition the edition file does not know is bad input."""
    service = load_document(metadata, ServiceMetadata)
    config = load_document(editions, EditionConfig) if editions else None
    edition = edition_id or (service.editions[0] if service.editions else None)
    if config is not None and edition is not None and config.edition(edition) is None:
        known = ", ".join(e.edition_id for e in config.editions)
        raise InputError.single("edition", edition, f"an edition of {editions} ({known})")
    return design(
        DesignRequest(
            openapi=load_openapi(openapi),
            metadata=service,
            editions=config,
            edition_id=edition,
            annotations=load_document(annotations, StudioAnnotations) if annotations else None,
            store=store,
            test_types=tuple(dict.fromkeys(test_types)) if test_types else None,
        )
    )
