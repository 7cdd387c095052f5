"""The sample service's surfaces beyond HTTP, loaded through their sample plans: the WebSocket feed, the
webhook sender, the report jobs and the RabbitMQ notification worker, each slowed by the slow release."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from local_services import rabbitmq_server

from sk_loadagent.analysis.summary import summarize
from sk_loadagent.engine import RunOptions, build_profile, run_load
from sk_loadagent.models.loading import load_document
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.sample_service import AppointmentsGrpc, NotificationWorker, SampleService, samples_dir

SURFACES = samples_dir() / "vetclinic" / "plans" / "surfaces"


def _short(path: Path, seconds: float = 1.0, **shape: Any) -> Any:
    """The plan's test, ``seconds`` long (the tests' budget), at the rate or VUs given."""
    test = load_document(path, TestSuitePlan).tests[0]
    return test.model_copy(update={"duration": seconds, "ramp_up": 0.0, **shape})


def _grpc_test(plan: Path, url: str, **shape: Any) -> Any:
    test = _short(plan, **shape)
    assert test.grpc is not None
    block = test.grpc.model_copy(update={"url": url, "proto": str(plan.parent / test.grpc.proto)})
    return test.model_copy(update={"grpc": block})


async def _measure(test: Any, url: str) -> PerfMetrics:
    return summarize(await run_load(build_profile(test, base_url=url), RunOptions(workers=0)))


def test_every_surface_has_a_sample_plan() -> None:
    assert sorted(p.name for p in SURFACES.glob("*.plan.yaml")) == [
        "amqp.plan.yaml",
        "booking-flow.plan.yaml",
        "grpc.plan.yaml",
        "job.plan.yaml",
        "webhook.plan.yaml",
        "websocket.plan.yaml",
    ]
    for path in SURFACES.glob("*.plan.yaml"):
        if path.name == "booking-flow.plan.yaml":
            continue  # the composite flow: test_the_booking_flow_crosses_http_and_rabbitmq
        plan = load_document(path, TestSuitePlan)
        assert plan.module_id == (
            "AppointmentsService" if path.name == "grpc.plan.yaml" else "NotificationService"
        )
        assert plan.tests[0].surface == path.name.split(".")[0]


async def test_each_sample_surface_answers_its_plan() -> None:
    async with SampleService(release="stable", jitter=0.0) as service, AppointmentsGrpc(service.url) as grpc:
        measured = {
            name: await _measure(_short(SURFACES / f"{name}.plan.yaml", 0.5, **shape), service.url)
            for name, shape in (("websocket", {"vus": 2}), ("webhook", {"rps": 10.0}), ("job", {"rps": 4.0}))
        }
        measured["grpc"] = await _measure(
            _grpc_test(SURFACES / "grpc.plan.yaml", grpc.url, rps=10.0), service.url
        )
    for name, metrics in measured.items():
        assert metrics.error_rate == 0, name
        assert metrics.requests, name
        assert metrics.surface is not None
        assert metrics.surface.kind == name


@pytest.mark.optin
@pytest.mark.parametrize(
    ("name", "shape"),
    [("websocket", {"vus": 4}), ("webhook", {"rps": 10.0}), ("job", {"rps": 4.0})],
)
async def test_each_http_side_surface_slows_with_the_slow_release(name: str, shape: dict[str, Any]) -> None:
    test = _short(SURFACES / f"{name}.plan.yaml", **shape)
    async with SampleService(release="stable", jitter=0.0) as service:
        stable = await _measure(test, service.url)
        await service.configure_async(release="slow")
        slow = await _measure(test, service.url)
    for metrics in (stable, slow):
        assert metrics.error_rate == 0
        assert metrics.surface is not None
        assert metrics.surface.kind == name
    assert stable.latency is not None
    assert slow.latency is not None
    assert (slow.latency.p50 or 0) > 2 * (stable.latency.p50 or 0)  # 3x the service time


async def test_the_notification_worker_answers_through_rabbitmq() -> None:
    rabbitmq_server()
    test = _short(SURFACES / "amqp.plan.yaml", 0.5, rps=20.0)
    async with SampleService(release="stable", jitter=0.0) as service, NotificationWorker(service.url):
        metrics = await _measure(test, service.url)
    assert metrics.error_rate == 0
    assert metrics.latency is not None
    assert (metrics.latency.p50 or 0) >= 20.0  # the service time of /notifications/send
    assert metrics.surface is not None
    assert metrics.surface.received == metrics.requests


@pytest.mark.optin
async def test_the_grpc_appointment_service_slows_with_the_slow_release() -> None:
    async with SampleService(release="stable", jitter=0.0) as service, AppointmentsGrpc(service.url) as grpc:
        test = _grpc_test(SURFACES / "grpc.plan.yaml", grpc.url, rps=10.0)
        stable = await _measure(test, service.url)
        await service.configure_async(release="slow")
        await asyncio.sleep(0.6)  # the server reads the knobs every half second
        slow = await _measure(test, service.url)
    assert stable.error_rate == 0
    assert slow.error_rate == 0
    assert stable.latency is not None
    assert slow.latency is not None
    assert (slow.latency.p50 or 0) > 2 * (stable.latency.p50 or 0)


async def test_the_booking_flow_crosses_http_and_rabbitmq() -> None:
    """The composite sample: book over HTTP, then the reminder through the worker, each with its figures."""
    rabbitmq_server()
    test = _short(SURFACES / "booking-flow.plan.yaml", 0.5, rps=10.0)
    async with SampleService(release="stable", jitter=0.0) as service, NotificationWorker(service.url):
        metrics = await _measure(test, service.url)
    assert metrics.error_rate == 0
    assert metrics.steps is not None
    book, reminder = metrics.steps
    assert (book.name, reminder.name) == ("book", "reminder")
    assert book.surface is None
    assert reminder.surface is not None
    assert reminder.surface.kind == "amqp"
    assert reminder.surface.received == reminder.requests
    assert reminder.latency is not None
    assert (reminder.latency.p50 or 0) >= 20.0  # the worker's service time
