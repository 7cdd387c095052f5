"""``--trace-plan FILE``: each trace path (flow) of a QA agent's trace.plan.yaml becomes a flow test.

The mapping (README, "Flows"):

- one flow test per entry of ``flows`` that has at least one step with an ``endpoint``; it is named after the
  flow and appended to the plan's tests;
- its type is the first of the flow's ``testTypes`` that runs a flow on its own (load, spike, soak,
  concurrency; else load), its shape the defaults below unless the flow entry gives ``rps``, ``duration``
  or ``vus`` itself;
- each step with an ``endpoint`` is a step with that request: its ``method`` (GET when unset) and path, named
  by the step's ``name`` when it has one, else after its method and last path segment (``post-book``); a
  status of 2xx or 3xx passes, as for any request;
- a step without an endpoint (an ``event``) is left out, and the test says so in its warnings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sk_loadagent.errors import InputError
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.plan import TestSpec
from sk_loadagent.models.trace_plan import FlowGroup, FlowStep, TracePlan

FLOW_TYPES = ("load", "spike", "soak", "concurrency")
SHAPES: dict[str, dict[str, Any]] = {
    "load": {"rps": 10, "duration": "30s"},
    "spike": {"rps": 30, "duration": "10s"},
    "soak": {"rps": 10, "duration": "5m"},
    "concurrency": {"vus": 5, "duration": "30s"},
}
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class TraceFlows:
    """The flow tests of a trace plan, and what was left out of each (by the test's position in ``tests``)."""

    tests: list[TestSpec] = field(default_factory=list)
    notes: list[list[str]] = field(default_factory=list)


def flow_tests(trace: TracePlan, source: str) -> TraceFlows:
    """The flow tests of ``trace`` (read from ``source``); InputError when none of its flows calls an HTTP
    endpoint."""
    found = TraceFlows()
    skipped: list[str] = []
    for index, flow in enumerate(trace.flows):
        steps = [(j, s) for j, s in enumerate(flow.steps or []) if s.endpoint]
        if not steps:
            skipped.append(
                f"{source}: flow {flow.name!r} has no step with an HTTP endpoint: no test made of it"
            )
            continue
        where = f"{source}: flows[{index}]"
        document = {
            "name": flow.name,
            "type": _type(flow),
            **_shape(flow),
            "flow": _steps([s for _, s in steps]),
        }
        try:
            test = validate_document(document, TestSpec, where, strict=True)
        except InputError as exc:
            raise InputError(source, [_located(p, index, steps) for p in exc.problems]) from None
        found.tests.append(test)
        left_out = [
            f"{source}: flow {flow.name!r} step {j + 1} ({s.event or s.description or 'no endpoint'}) has no "
            "HTTP endpoint: left out of the flow test"
            for j, s in enumerate(flow.steps or [])
            if not s.endpoint
        ]
        found.notes.append(left_out)
    if not found.tests:
        raise InputError.single(
            source,
            "flows",
            "at least one flow with a step that names an HTTP endpoint",
            f"{len(trace.flows)} flows",
        )
    if skipped:
        found.notes[0] = skipped + found.notes[0]
    return found


def _type(flow: FlowGroup) -> str:
    return next((t for t in flow.test_types or [] if t in FLOW_TYPES), "load")


def _shape(flow: FlowGroup) -> dict[str, Any]:
    shape = dict(SHAPES[_type(flow)])
    extra = flow.model_extra or {}
    for key in ("rps", "duration", "vus"):
        if key in extra:
            shape[key] = extra[key]
    return shape


def _steps(steps: list[FlowStep]) -> list[dict[str, Any]]:
    out = []
    used: set[str] = set()
    for step in steps:
        method = step.method or "GET"
        name = str((step.model_extra or {}).get("name") or _name(method, step.endpoint or ""))
        base, n = name, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        out.append({"name": name, "request": {"method": method, "path": step.endpoint}})
    return out


def _name(method: str, endpoint: str) -> str:
    last = [part for part in endpoint.split("?")[0].split("/") if part]
    tail = _SLUG.sub("-", last[-1].lower()).strip("-") if last else "root"
    return f"{method.lower()}-{tail or 'root'}"


def _located(problem: Any, index: int, steps: list[tuple[int, FlowStep]]) -> Any:
    """A problem of the generated test, named where the trace plan wrote it (flows[0].steps[2].endpoint)."""
    match = re.match(r"flow\[(\d+)\]\.request\.path", problem.field)
    if match is not None:
        problem.field = f"flows[{index}].steps[{steps[int(match.group(1))][0]}].endpoint"
    elif problem.field.startswith("flow["):
        problem.field = f"flows[{index}].steps"
    else:
        problem.field = f"flows[{index}].{problem.field}"
    return problem
