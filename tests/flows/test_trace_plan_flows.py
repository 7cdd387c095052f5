"""--trace-plan FILE: each trace path of trace.plan.yaml becomes a flow test (README, "Flows")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sk_loadagent.errors import InputError
from sk_loadagent.suite.execution_plan import interpret
from sk_loadagent.suite.inputs import load_inputs

SUITE = {
    "moduleId": "CheckoutService",
    "baseUrl": "http://127.0.0.1:9",
    "tests": [{"type": "load", "endpoint": "/checkout/submit", "rps": 5, "duration": "2s"}],
}
TRACE: dict[str, Any] = {
    "traceId": "proj-940",
    "flows": [
        {
            "name": "book-and-notify",
            "testTypes": ["stress", "spike"],
            "owner": "team-clinic",
            "steps": [
                {"moduleId": "AppointmentsService", "endpoint": "/appointments/book", "method": "post"},
                {"moduleId": "NotificationService", "event": "AppointmentBooked"},
                {
                    "moduleId": "NotificationService",
                    "endpoint": "/notifications/send",
                    "method": "post",
                    "name": "notify",
                },
                {
                    "moduleId": "AppointmentsService",
                    "endpoint": "/appointments/book?again=1",
                    "method": "post",
                },
            ],
        },
        {"name": "reminders", "steps": [{"event": "ReminderDue"}]},
        {"name": "health", "rps": 2, "duration": "5s", "steps": [{"endpoint": "/health"}]},
    ],
}


def _files(tmp_path: Path, trace: dict[str, Any]) -> tuple[Path, Path]:
    suite, plan = tmp_path / "suite.plan.yaml", tmp_path / "trace.plan.yaml"
    suite.write_text(yaml.safe_dump(SUITE), encoding="utf-8")
    plan.write_text(yaml.safe_dump(trace, sort_keys=False), encoding="utf-8")
    return suite, plan


def test_each_trace_path_with_an_endpoint_becomes_a_flow_test(tmp_path: Path) -> None:
    suite, trace = _files(tmp_path, TRACE)
    plan = interpret(load_inputs(suite, trace_plan=trace))
    assert [(t.label, t.test_type, t.endpoint, t.method) for t in plan.tests] == [
        ("load /checkout/submit", "load", "/checkout/submit", "GET"),
        ("book-and-notify", "spike", "flow:book-and-notify", None),
        ("health", "load", "flow:health", None),
    ]
    book = plan.tests[1].test
    assert book.flow is not None
    assert [(s.name, s.request.method, s.request.path) for s in book.flow if s.request] == [
        ("post-book", "POST", "/appointments/book"),
        ("notify", "POST", "/notifications/send"),
        ("post-book-2", "POST", "/appointments/book?again=1"),
    ]
    assert (book.rps, book.duration) == (30, 10.0)
    health = plan.tests[2].test
    assert (health.rps, health.duration) == (2, 5.0)
    assert plan.tests[1].notes == [
        f"{trace}: flow 'reminders' has no step with an HTTP endpoint: no test made of it",
        f"{trace}: flow 'book-and-notify' step 2 (AppointmentBooked) has no HTTP endpoint: left out of the "
        f"flow test",
    ]
    assert plan.tests[2].notes is None


@pytest.mark.parametrize(
    ("trace", "message"),
    [
        (
            {"flows": [{"name": "events", "steps": [{"event": "X"}]}]},
            "flows: expected at least one flow with a step that names an HTTP endpoint, got 1 flows",
        ),
        (
            {"flows": [{"name": "pets", "steps": [{"event": "X"}, {"endpoint": "/pets/{id}"}]}]},
            "flows[0].steps[1].endpoint: expected a path of URL characters, with the others "
            "percent-encoded, such "
            "as /pets/%7Bid%7D, got '/pets/{id}'",
        ),
        (
            {"flows": [{"name": "fast", "rps": -1, "steps": [{"endpoint": "/health"}]}]},
            "flows[0].rps: expected a number greater than 0, got -1",
        ),
    ],
)
def test_a_trace_plan_that_makes_no_valid_test_names_where(
    tmp_path: Path, trace: dict[str, Any], message: str
) -> None:
    suite, path = _files(tmp_path, trace)
    with pytest.raises(InputError) as caught:
        load_inputs(suite, trace_plan=path)
    assert str(caught.value) == f"{path}: {message}"
