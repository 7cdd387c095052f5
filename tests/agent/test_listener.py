"""The event listener on the machine's real NATS and RabbitMQ: events in, runs, events out; idempotent on
redelivery, bounded concurrency, dead letters, a clean stop. Each test uses subjects and queues of its own
and deletes what it declared. Load goes through the engine's mock transport (nothing is sent)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from local_services import nats_server, rabbitmq_server

from sk_loadagent.agent.buses import AmqpBus, NatsBus, open_bus
from sk_loadagent.agent.ledger import EventLedger
from sk_loadagent.agent.listener import Listener, ListenerConfig
from sk_loadagent.agent.session import AgentConfig, Budget
from sk_loadagent.engine import MockReply, MockTransport, RunOptions
from sk_loadagent.memory import MemoryStore, open_store

PLAN = {
    "moduleId": "CheckoutService",
    "editionId": "vetclinic",
    "baseUrl": "http://127.0.0.1:9",
    "endpoint": "/checkout/submit",
    "method": "POST",
    "tests": [{"type": "load", "name": "checkout-load", "rps": 10, "duration": "500ms", "body": {"a": 1}}],
}
WAIT = 20.0


def envelope(event_id: str, **fields: Any) -> bytes:
    event = {
        "eventId": event_id,
        "type": "TestGenerated",
        "traceId": f"trace-{event_id}",
        "moduleId": "CheckoutService",
        "planRef": "checkout.plan.yaml",
        "sourceAgent": "QAEngineerAgent",
        **fields,
    }
    return json.dumps(event).encode()


class Client:
    """The other agents' side of the bus: publishes events, collects what the listener publishes."""

    def __init__(self, kind: str, url: str, name: str) -> None:
        self.kind, self.url, self.name = kind, url, name
        self.out: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.dead: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._conn: Any = None
        self._channel: Any = None

    async def open(self) -> None:
        if self.kind == "nats":
            import nats

            self._conn = await nats.connect(self.url)

            async def out(msg: Any) -> None:
                await self.out.put({"subject": msg.subject, **json.loads(msg.data)})

            async def dead(msg: Any) -> None:
                await self.dead.put(json.loads(msg.data))

            await self._conn.subscribe(f"{self.name}.out.>", cb=out)
            await self._conn.subscribe(f"{self.name}.dead", cb=dead)
            await self._conn.flush()
            return
        import aio_pika

        self._conn = await aio_pika.connect_robust(self.url)
        self._channel = await self._conn.channel()
        await self._channel.declare_queue(self.name, durable=True)
        exchange = await self._channel.declare_exchange(
            f"{self.name}.out", aio_pika.ExchangeType.TOPIC, durable=True
        )
        watch = await self._channel.declare_queue(exclusive=True)
        await watch.bind(exchange, routing_key="#")
        dead = await self._channel.declare_queue(f"{self.name}.dead", durable=True)

        async def out(message: Any) -> None:
            await message.ack()
            await self.out.put({"subject": message.routing_key, **json.loads(message.body)})

        async def dead_letter(message: Any) -> None:
            await message.ack()
            await self.dead.put(json.loads(message.body))

        await watch.consume(out)
        await dead.consume(dead_letter)

    async def publish(self, body: bytes) -> None:
        if self.kind == "nats":
            await self._conn.publish(self.name, body)
            await self._conn.flush()
            return
        import aio_pika

        await self._channel.default_exchange.publish(aio_pika.Message(body), routing_key=self.name)

    async def waiting(self) -> list[str]:
        """The eventIds waiting in the listener's AMQP queue (given back, or never taken), taken out."""
        queue = await self._channel.get_queue(self.name)
        found = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            found.append(json.loads(message.body)["eventId"])
        return found

    async def close(self) -> None:
        if self.kind == "amqp" and self._channel is not None:
            for queue in (self.name, f"{self.name}.dead"):
                await self._channel.queue_delete(queue)
            await self._channel.exchange_delete(f"{self.name}.out")
        await self._conn.close()


@pytest.fixture(params=["nats", "amqp"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    url = nats_server() if request.param == "nats" else rabbitmq_server()
    opened = Client(request.param, url, f"skl-test-{uuid.uuid4().hex[:10]}")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(tmp_path / "memory.sqlite") as opened:
        yield opened


def listener_config(
    tmp_path: Path, store: MemoryStore, plan: dict[str, Any] = PLAN, **extra: Any
) -> ListenerConfig:
    plans = tmp_path / "plans"
    plans.mkdir(exist_ok=True)
    (plans / "checkout.plan.yaml").write_text(yaml.safe_dump(plan))
    reply = extra.pop("reply", MockReply(latency=0.002))
    session = AgentConfig(
        store=store,
        out_dir=tmp_path / "out",
        options=RunOptions(workers=0, transport=MockTransport(reply), late_threshold_s=0.5),
        budget=extra.pop("budget", Budget()),
    )
    return ListenerConfig(
        session=session, plans_dir=plans, ledger=EventLedger(tmp_path / "events.json"), **extra
    )


class Running:
    """A listener running in this test's event loop, and what it reported."""

    def __init__(self, listener: Listener, reports: list[str]) -> None:
        self.listener, self.reports = listener, reports
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.listener.run(self.stop))
        while not any(r.startswith("listening on") for r in self.reports):
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, WAIT)


async def running(config: ListenerConfig, client: Client) -> Running:
    bus = await open_bus(client.url, client.name, config.concurrency)
    assert isinstance(bus, NatsBus | AmqpBus)
    reports: list[str] = []
    return Running(Listener(config, bus, reports.append), reports)


async def test_an_event_runs_its_suite_once_and_tells_the_other_agents(
    client: Client, tmp_path: Path, store: MemoryStore
) -> None:
    async with await running(listener_config(tmp_path, store), client) as listener:
        await client.publish(envelope("e-1"))
        completed = await asyncio.wait_for(client.out.get(), WAIT)
        await client.publish(envelope("e-1"))  # a redelivery, or the same event sent twice
        while not any("handled before" in r for r in listener.reports):
            await asyncio.sleep(0.02)

    assert completed["subject"].endswith("PerformanceTestCompleted")
    assert (completed["type"], completed["causationId"], completed["traceId"]) == (
        "PerformanceTestCompleted",
        "e-1",
        "trace-e-1",
    )
    assert (completed["status"], completed["gatePassed"], completed["performanceScore"]) == (
        "pass",
        True,
        1.0,
    )
    assert completed["preview"]["traceId"] == "trace-e-1"
    assert client.out.empty()  # one run, one set of events
    assert [r.trace_id for r in store.find(module_id="CheckoutService")] == ["trace-e-1"]
    assert (tmp_path / "out" / "e-1" / "perf-metrics.json").is_file()
    assert listener.reports[-1] == "event e-1: handled before (a redelivery); no run"
    assert json.loads((tmp_path / "events.json").read_text())["events"]["e-1"]["outcome"] == "run"


async def test_poison_events_go_to_the_dead_letters_with_their_error(
    client: Client, tmp_path: Path, store: MemoryStore
) -> None:
    async with await running(listener_config(tmp_path, store), client):
        await client.publish(b"{not json")
        await client.publish(
            json.dumps({"eventId": "e-2", "type": "TestGenerated", "moduleId": "M"}).encode()
        )
        await client.publish(envelope("e-3", planRef="../../etc/passwd"))
        letters = [await asyncio.wait_for(client.dead.get(), WAIT) for _ in range(3)]

    assert [letter["error"] for letter in letters] == [
        "event: expected a JSON event envelope, got Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "event: 2 problems\n  - traceId: expected a value (this field is required)\n"
        "  - planRef: expected a value (this field is required)",
        f"event: planRef: expected a plan file inside the plans folder {tmp_path / 'plans'}, "
        "got '../../etc/passwd'",
    ]
    assert letters[0]["event"] == "{not json"
    assert letters[1]["event"]["eventId"] == "e-2"
    assert store.keys() == []


async def test_a_run_over_the_budget_is_a_dead_letter(
    client: Client, tmp_path: Path, store: MemoryStore
) -> None:
    config = listener_config(tmp_path, store, budget=Budget(peak_rps=5))
    async with await running(config, client):
        await client.publish(envelope("e-4"))
        letter = await asyncio.wait_for(client.dead.get(), WAIT)

    assert (
        letter["error"] == "REFUSED: the run peaks at 10 rps, above the session's limit of 5 rps (--max-rps)"
    )


async def test_a_failing_release_notifies_the_developer_agent(
    client: Client, tmp_path: Path, store: MemoryStore
) -> None:
    # Every request answered 503 after 1.7 s: errors and latency (twice the default 800 ms p95) score < 0.75.
    config = listener_config(tmp_path, store, reply=MockReply(latency=1.7, status=503))
    async with await running(config, client):
        await client.publish(envelope("e-5"))
        published = [await asyncio.wait_for(client.out.get(), WAIT) for _ in range(3)]

    assert [(e["type"], e.get("targetAgent")) for e in published] == [
        ("PerformanceTestCompleted", None),
        ("PerformanceRegressionDetected", "DeveloperAgent"),
        ("DeveloperNotification", "DeveloperAgent"),
    ]
    assert published[0]["status"] == "fail"
    assert published[1]["alert"]["status"] == "fail"
    assert published[2]["reason"].startswith("performanceScore 0.")


async def test_a_chaos_event_waits_for_the_fault_to_end_then_measures_recovery(
    client: Client, tmp_path: Path, store: MemoryStore
) -> None:
    started = datetime.now(UTC)
    fault = {"kind": "pod-kill", "startedAt": started.isoformat(), "durationSeconds": 1.0}
    async with await running(listener_config(tmp_path, store), client) as listener:
        await client.publish(envelope("e-6", type="ChaosInjected", fault=fault))
        completed = await asyncio.wait_for(client.out.get(), WAIT)

    assert any(
        r.startswith("event e-6: waiting ") and r.endswith("for the pod-kill fault to end")
        for r in listener.reports
    )
    run = store.find(module_id="CheckoutService")[0]
    assert run.created_at is not None
    assert (run.created_at - started).total_seconds() >= 1.0
    assert completed["recoveryTimeSeconds"] == 0.0  # the mock never slows down


async def test_concurrency_is_bounded_and_a_stop_abandons_the_run_in_progress(
    client: Client, tmp_path: Path, store: MemoryStore
) -> None:
    long_plan = {**PLAN, "tests": [{**PLAN["tests"][0], "duration": "30s"}]}
    config = listener_config(tmp_path, store, long_plan, concurrency=1, drain_seconds=0.3)
    began = time.monotonic()
    async with await running(config, client) as listener:
        await client.publish(envelope("e-7"))
        await client.publish(envelope("e-8"))
        await asyncio.sleep(1.5)
        in_progress = len(listener.listener._tasks)
    stopped_after = time.monotonic() - began

    assert in_progress == 1  # e-8 waits for e-7's slot
    assert stopped_after < 5  # not the 30 s the run would take
    assert "a run was abandoned at shutdown; its event is given back to the broker" in listener.reports
    assert store.keys() == []
    assert not (tmp_path / "out" / "e-7").exists()
    assert EventLedger(tmp_path / "events.json").handled("e-7") is None
    if client.kind == "amqp":
        assert sorted(await client.waiting()) == ["e-7", "e-8"]  # both wait for the next listener
