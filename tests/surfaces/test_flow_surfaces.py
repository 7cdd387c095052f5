"""Flows mixing surfaces: an HTTP step, then a step that waits for the service's NATS event about it (matched
by a value the first step extracted), timed from the moment it was due; each step on a surface reports its
surface's own figures (``steps[i].surface``), as a surface test does; bad step blocks."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from broker_echo import AmqpEcho, NatsEcho, RedisEcho, WebSocketEcho
from http_surfaces_server import surface_service
from local_services import nats_server, rabbitmq_server, redis_server

from sk_loadagent.analysis.summary import summarize
from sk_loadagent.engine import RunOptions, RunResult, build_profile, run_load
from sk_loadagent.engine.result import OUTCOME_NAMES
from sk_loadagent.errors import InputError
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.metrics import SurfaceFigures
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


def _outcomes(result: RunResult, step: int) -> dict[str, int]:
    codes, counts = np.unique(result.steps[step].samples.outcome, return_counts=True)
    return {OUTCOME_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}


def _surface_of(result: RunResult, step: int) -> SurfaceFigures:
    steps = summarize(result).steps
    assert steps is not None
    surface = steps[step].surface
    assert surface is not None
    return surface


async def test_each_step_on_a_surface_reports_its_surface_figures() -> None:
    """An HTTP booking, the NATS event it causes, then a message through RabbitMQ: the two surface steps
    carry their own figures (the AMQP step's time-to-ack and its queues' depth sampled during the run)."""
    url = nats_server()
    subject = f"sk-surface.{uuid.uuid4().hex[:8]}.booked"
    async with AmqpEcho(rabbitmq_server(), delay=0.01) as echo:
        notify = {
            "name": "notify",
            "surface": "amqp",
            "amqp": {
                "url": echo.url,
                "publish": {"routingKey": echo.inq, "json": {"appointment": "${apptId}"}},
                "consume": {"queue": echo.outq},
            },
        }
        with surface_service(delay=0.03) as service:
            service.booked = (url, subject)
            test = _flow([*_steps(url, subject), notify])
            result = await run_load(build_profile(test, base_url=service.url), RunOptions(workers=0))
    assert [_outcomes(result, i) for i in range(3)] == [{"ok": 10}] * 3
    metrics = summarize(result)
    assert metrics.steps is not None
    assert metrics.steps[0].surface is None  # an HTTP request has no surface block
    event = _surface_of(result, 1)
    assert (event.kind, event.target, event.lag_from) == ("nats", f">{subject}", "step-due")
    assert (event.received, event.published, event.acks, event.unmatched) == (10, 0, 0, 0)
    assert event.depth is None  # core NATS: no depth to read
    amqp = _surface_of(result, 2)
    assert (amqp.kind, amqp.target, amqp.lag_from) == ("amqp", f"{echo.inq}>{echo.outq}", "step-due")
    assert (amqp.published, amqp.received, amqp.acks, amqp.dead_letters) == (10, 10, 10, 0)
    assert amqp.time_to_ack is not None
    assert amqp.time_to_ack.p50 is not None
    assert amqp.depth is not None
    assert [d.name for d in amqp.depth] == [echo.inq, echo.outq]
    assert all(d.samples >= 1 for d in amqp.depth)
    wire = metrics.to_wire()["steps"][2]["surface"]
    assert wire["lagFrom"] == "step-due"
    assert wire["timeToAck"]["p50"] == amqp.time_to_ack.p50


async def test_jetstream_and_redis_steps_ack_and_sample_depth() -> None:
    """The brokers whose depth is read another way: JetStream's stream, a Redis consumer group's lag and
    pending entries."""
    async with (
        NatsEcho(nats_server(), delay=0.01, jetstream=True) as nats,
        RedisEcho(redis_server(), delay=0.01) as redis,
    ):
        steps = [
            {
                "name": "jetstream",
                "surface": "nats",
                "nats": {
                    "url": nats.url,
                    "publish": {"subject": nats.insubj, "json": {"id": "${uuid}"}},
                    "consume": {"subject": nats.outsubj},
                    "jetstream": {"stream": nats.stream},
                },
            },
            {
                "name": "stream",
                "surface": "redis",
                "redis": {
                    "url": redis.url,
                    "publish": {"stream": redis.instream, "json": {"id": "${uuid}"}},
                    "consume": {"stream": redis.outstream},
                    "group": redis.group,
                },
            },
        ]
        result = await run_load(
            build_profile(_flow(steps), base_url="http://127.0.0.1:9"), RunOptions(workers=0)
        )
    jetstream, stream = _surface_of(result, 0), _surface_of(result, 1)
    assert (jetstream.acks, jetstream.received) == (10, 10)
    assert jetstream.depth is not None
    assert [d.name for d in jetstream.depth] == [nats.stream]
    assert (stream.acks, stream.received) == (10, 10)
    assert stream.depth is not None
    assert [d.name for d in stream.depth] == [
        f"{redis.instream}/workers lag",
        f"{redis.instream}/workers pending",
    ]
    assert all(d.samples >= 1 for d in [*jetstream.depth, *stream.depth])


async def test_webhook_job_and_websocket_steps_report_their_figures() -> None:
    steps = [
        {
            "name": "remind",
            "surface": "webhook",
            "webhook": {"trigger": {"path": "/notify", "json": {"callback": "${webhook.url}"}}},
        },
        {
            "name": "report",
            "surface": "job",
            "job": {
                "submit": {"method": "POST", "path": "/reports", "json": {"month": "2026-11"}},
                "id": "$.id",
                "poll": {"path": "/reports/${job.id}", "interval": "10ms"},
                "until": {"$.status": "done"},
            },
        },
    ]
    async with WebSocketEcho(delay=0.002) as feed:
        ping = {"json": {"op": "ping", "id": "${uuid}"}}
        socket = {"url": feed.url + "/ws", "send": ping, "correlate": "$.id"}
        steps.append({"name": "ping", "surface": "websocket", "websocket": socket})
        with surface_service(delay=0.03) as service:
            result = await run_load(build_profile(_flow(steps), base_url=service.url), RunOptions(workers=0))
    webhook, job, websocket = (_surface_of(result, i) for i in range(3))
    assert (webhook.kind, webhook.triggered, webhook.delivered, webhook.delivery_ratio) == (
        "webhook",
        10,
        10,
        1.0,
    )
    assert (job.kind, job.done, job.failed) == ("job", 10, 0)
    assert job.polls is not None
    assert job.polls.units == 10
    assert job.polls.total >= 10  # at least one poll a job
    assert (websocket.kind, websocket.target, websocket.lost) == ("websocket", "/ws", 0)
    assert websocket.connects is not None
    assert websocket.connects >= 1
    assert websocket.connect_time is not None


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
