"""Flows mixing surfaces: an HTTP step, then a step that waits for the service's NATS event about it (matched
by a value the first step extracted), timed from the moment it was due; bad step blocks."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from http_surfaces_server import surface_service
from local_services import nats_server

from sk_loadagent.engine import RunOptions, build_profile, run_load
from sk_loadagent.engine.result import OUTCOME_NAMES
from sk_loadagent.errors import InputError
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.plan import TestSpec


def _flow(steps: list[dict[str, Any]], **shape: Any) -> TestSpec:
    document: dict[str, Any] = {"name": "book-then-event", "type": "load", "rps": 10, "duration": "1s"}
    document.update({"rampUp": "0s", **shape, "flow": steps})
    return validate_document(document, TestSpec, "flow.plan.yaml", strict=True)


def _steps(url: str, subject: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "book",
            "request": {"method": "POST", "path": "/book", "json": {"pet": "${uuid}"}},
            "extract": {"apptId": "$.appointmentId"},
            "check": {"status": 200},
        },
        {
            "name": "booked-event",
            "surface": "nats",
            "nats": {"url": url, "consume": {"subject": subject, "match": {"$.appointmentId": "${apptId}"}}},
            "check": {"$.event": "appointment.booked"},
        },
    ]


async def test_a_step_waits_for_the_event_the_step_before_caused() -> None:
    url = nats_server()
    subject = f"sk-surface.{uuid.uuid4().hex[:8]}.booked"
    with surface_service(delay=0.03) as service:
        service.booked = (url, subject)
        test = _flow(_steps(url, subject))
        result = await run_load(build_profile(test, base_url=service.url), RunOptions(workers=0))
    assert [s.target for s in result.steps] == ["POST /book", f"nats >{subject}"]
    event = result.steps[1].samples
    codes, counts = np.unique(event.outcome, return_counts=True)
    assert {OUTCOME_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)} == {"ok": 10}
    assert np.all(event.latency >= 0.02)  # announced 30 ms after the booking answered
    assert np.all(result.samples.latency >= event.latency)  # the iteration holds both steps


def test_a_consuming_step_needs_its_match() -> None:
    with pytest.raises(InputError) as caught:
        _flow(
            [
                {"request": {"path": "/book"}},
                {"surface": "nats", "nats": {"url": "nats://127.0.0.1:4222", "consume": {"subject": "x"}}},
            ]
        )
    assert str(caught.value) == (
        "flow.plan.yaml: flow[1].nats.consume.match: expected the message this step waits for, such as "
        "{$.appointmentId: ${apptId}}"
    )


def test_a_step_surface_without_its_block() -> None:
    with pytest.raises(InputError) as caught:
        _flow([{"request": {"path": "/book"}}, {"surface": "grpc"}])
    expected = "flow[1].grpc: expected a grpc block for a step with surface: grpc"
    assert str(caught.value) == f"flow.plan.yaml: {expected}"
