"""The sample service's surfaces beyond HTTP, loaded through their sample plans: the WebSocket feed, the
webhook sender, the report jobs and the RabbitMQ notification worker, each slowed by the slow release."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from local_services import rabbitmq_server

from sk_loadagent.analysis.summary import summarize
from sk_loadagent.engine import RunOptions, build_profile, run_load
from sk_loadagent.models.loading import load_document
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.sample_service import NotificationWorker, SampleService, samples_dir

SURFACES = samples_dir() / "vetclinic" / "plans" / "surfaces"


def _short(path: Path, **shape: Any) -> Any:
    """The plan's test, 1 s long (the tests' budget), at the rate or VUs given."""
    test = load_document(path, TestSuitePlan).tests[0]
    return test.model_copy(update={"duration": 1.0, "ramp_up": 0.0, **shape})


async def _measure(test: Any, url: str) -> PerfMetrics:
    return summarize(await run_load(build_profile(test, base_url=url), RunOptions(workers=0)))


def test_every_surface_has_a_sample_plan() -> None:
    assert sorted(p.name for p in SURFACES.glob("*.plan.yaml")) == [
        "amqp.plan.yaml",
        "job.plan.yaml",
        "webhook.plan.yaml",
        "websocket.plan.yaml",
    ]
    for path in SURFACES.glob("*.plan.yaml"):
        plan = load_document(path, TestSuitePlan)
        assert plan.module_id == "NotificationService"
        assert plan.tests[0].surface == path.name.split(".")[0]


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
    test = _short(SURFACES / "amqp.plan.yaml", rps=20.0)
    async with SampleService(release="stable", jitter=0.0) as service, NotificationWorker(service.url):
        metrics = await _measure(test, service.url)
    assert metrics.error_rate == 0
    assert metrics.latency is not None
    assert (metrics.latency.p50 or 0) >= 20.0  # the service time of /notifications/send
    assert metrics.surface is not None
    assert metrics.surface.received == metrics.requests
