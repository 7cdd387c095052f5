"""A step's request compiled to bytes (the callback path) is byte for byte what the fast client writes for
the same step's ``Call`` (the task path): line, headers in order, trace context, length and body."""

from __future__ import annotations

from typing import Any

import pytest

from sk_loadagent.engine._flow import DataTable, FlowPlan, IterationState, compile_flow
from sk_loadagent.engine._flow_base import step_span
from sk_loadagent.engine._flow_wire import RequestWire
from sk_loadagent.engine._trace import TRACEPARENT, TraceContext, sampled_ids
from sk_loadagent.engine.clients._http import HttpClients, request_head
from sk_loadagent.models.flow import StepSpec

HOST_LINE = HttpClients("fast", url="http://127.0.0.1:8080", timeout=1.0, tls=None).host_line
STEPS: list[dict[str, Any]] = [
    {"request": {"path": "/items/${iteration}?vu=${vu}&u=${data.user}"}},
    {"request": {"path": "/static", "headers": {"X-Static": "yes"}}},
    {
        "request": {
            "method": "POST",
            "path": "/auth/login",
            "headers": {"Authorization": "Bearer ${token}", "X-Id": "${uuid}"},
            "json": {"user": "${data.user}", "note": 'caf\u00e9 "${token}"'},
        }
    },
    {"request": {"method": "POST", "path": "/empty"}},
    {"request": {"method": "DELETE", "path": "/cart/${data.user}", "body": "${token}"}},
    {"request": {"method": "PUT", "path": "/raw", "body": "plain text"}},
]


def _it() -> IterationState:
    it = IterationState(7, 2, ("a b/\u00e9",))
    it.values["token"] = "tok-1"
    return it


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("spec", STEPS)
def test_a_step_writes_the_bytes_its_call_would(spec: dict[str, Any], traced: bool) -> None:
    data = DataTable(file="users.csv", mode="sequential", columns=("user",), rows=(("x",),))
    step = compile_flow(FlowPlan(steps=(StepSpec.model_validate(spec),), data=data)).steps[0]
    trace = list(TraceContext.for_test(0.5, "t", "wire").headers(step=step.name)) if traced else []
    wire = RequestWire(step, HOST_LINE, trace)
    it = _it()
    call = step.call(it)
    unsampled = [*call.headers, *trace]
    assert wire.render(it, None) == request_head(call.method, call.path, HOST_LINE, unsampled, call.body)
    if traced:  # a sampled iteration's step: its own span in place of the unsampled traceparent
        span = step_span(sampled_ids())
        sampled = [*call.headers, (TRACEPARENT, span), *trace[1:]]
        assert wire.render(it, span) == request_head(call.method, call.path, HOST_LINE, sampled, call.body)


def test_an_empty_body_on_a_method_without_one_says_no_length() -> None:
    spec = {"request": {"method": "GET", "path": "/q", "body": "${token}"}}
    step = compile_flow(FlowPlan(steps=(StepSpec.model_validate(spec),))).steps[0]
    it = _it()
    it.values["token"] = ""
    agent = step.headers[0][1].static
    wire = RequestWire(step, HOST_LINE, [])
    assert wire.render(it, None) == f"GET /q{HOST_LINE}User-Agent: {agent}\r\n\r\n".encode()
