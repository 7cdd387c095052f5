"""Bad surface inputs are refused before any load, each with the file, the field and what was expected
(exit 2, nothing stored); a broker that refuses at the start exits 3."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from local_services import rabbitmq_server

from sk_loadagent.cli.main import main
from sk_loadagent.errors import InputError, TargetNotAllowedError
from sk_loadagent.memory import open_store
from sk_loadagent.sample_service import samples_dir
from sk_loadagent.suite.execution_plan import interpret
from sk_loadagent.suite.inputs import load_inputs

PLAN: dict[str, Any] = {
    "moduleId": "NotificationService",
    "baseUrl": "http://127.0.0.1:9",
    "tests": [
        {
            "name": "notification-lag",
            "type": "load",
            "surface": "amqp",
            "rps": 5,
            "duration": "1s",
            "amqp": {
                "url": "amqp://guest:guest@127.0.0.1:5672/",
                "publish": {"exchange": "", "routingKey": "notifications.in", "json": {"client": "${uuid}"}},
                "consume": {"queue": "notifications.out"},
            },
        }
    ],
}
Edit = Callable[[dict[str, Any]], object]


def _amqp(key: str, value: object) -> Edit:
    return lambda t: t["amqp"].__setitem__(key, value)


def _websocket(block: dict[str, Any]) -> Edit:
    def edit(test: dict[str, Any]) -> None:
        test.pop("amqp")
        test.update(surface="websocket", websocket=block, type="concurrency", vus=2)
        test.pop("rps")

    return edit


def _other(surface: str, block: dict[str, Any]) -> Edit:
    def edit(test: dict[str, Any]) -> None:
        test.pop("amqp")
        test.update({"surface": surface, surface: block})

    return edit


SEND = {"json": {"op": "ping", "id": "${uuid}"}}
JOB = {
    "submit": {"path": "/reports", "json": {"kind": "monthly"}},
    "id": "$.id",
    "poll": {"path": "/reports/${job.id}"},
    "until": {"$.status": "done"},
}
PROTO = str(samples_dir() / "service" / "appointments.proto")
CASES: list[tuple[str, Edit, str]] = [
    (
        "a gRPC method the proto does not define",
        _other(
            "grpc",
            {
                "url": "grpc://127.0.0.1:50051",
                "proto": PROTO,
                "service": "vetclinic.AppointmentService",
                "method": "Nope",
            },
        ),
        "tests[0].grpc.method: expected a method of vetclinic.AppointmentService (Book, WatchSlots), got "
        "'Nope'",
    ),
    (
        "a job id in a webhook trigger",
        _other(
            "webhook", {"trigger": {"path": "/notify", "json": {"cb": "${webhook.url}", "job": "${job.id}"}}}
        ),
        "tests[0].webhook.trigger.json.job: expected ${job.id} only in a job test's poll.path, got ${job.id}",
    ),
    (
        "a job condition that does not parse",
        _other("job", {**JOB, "until": {"status": "done"}}),
        "tests[0].job.until.status: expected a JSONPath such as $.status (a JSONPath starting with $), got "
        "'status'",
    ),
    (
        "a job without its id path",
        _other("job", {k: v for k, v in JOB.items() if k != "id"}),
        "tests[0].job.id: expected a value (this field is required)",
    ),
    (
        "a correlation path that does not parse",
        _websocket({"path": "/ws", "send": SEND, "correlate": "$.id["}),
        "tests[0].websocket.correlate: expected a JSONPath such as $.id (unbalanced brackets, line 1, "
        "column 5), got '$.id['",
    ),
    (
        "a push timestamp path that does not parse",
        _websocket({"path": "/ws", "send": SEND, "subscribe": {"timestamp": "ts"}}),
        "tests[0].websocket.subscribe.timestamp: expected a JSONPath such as $.id (a JSONPath starting "
        "with $), got 'ts'",
    ),
    (
        "a WebSocket URL of another scheme",
        _websocket({"url": "http://127.0.0.1/ws", "send": SEND}),
        "tests[0].websocket.url: expected a ws:// or wss:// URL with a host, such as ws://127.0.0.1:8080/ws, "
        "got 'http://127.0.0.1/ws'",
    ),
    (
        "a WebSocket test without its message",
        _websocket({"path": "/ws"}),
        "tests[0].websocket.send: expected a value (this field is required)",
    ),
    (
        "an unknown surface",
        lambda t: t.__setitem__("surface", "kafka"),
        "tests[0].surface: expected one of http, websocket, grpc, amqp, nats, redis, webhook, job, got "
        "'kafka'",
    ),
    (
        "a broker surface without its block",
        lambda t: t.pop("amqp"),
        "tests[0].amqp: expected an amqp block (url, publish and consume) for a test with surface: amqp",
    ),
    (
        "a block of another surface",
        lambda t: t.__setitem__("surface", "nats"),
        "tests[0].surface: expected amqp (the test has an amqp block), got 'nats'",
    ),
    (
        "a queue name missing",
        _amqp("consume", {}),
        "tests[0].amqp.consume.queue: expected a value (this field is required)",
    ),
    (
        "a routing key missing",
        lambda t: t["amqp"]["publish"].pop("routingKey"),
        "tests[0].amqp.publish.routingKey: expected a value (this field is required)",
    ),
    (
        "a broker URL of another scheme",
        _amqp("url", "http://127.0.0.1:5672/"),
        "tests[0].amqp.url: expected an amqp:// or amqps:// URL with a host, such as "
        "amqp://guest:guest@127.0.0.1:5672/, got 'http://127.0.0.1:5672/'",
    ),
    (
        "a reference that does not parse",
        lambda t: t["amqp"]["publish"].__setitem__("json", {"client": "${uuid"}),
        "tests[0].amqp.publish: expected references written as ${token}, ${data.user}, ${env:API_KEY}, "
        "${uuid}, ${iteration} or ${vu} (or $$ for a $), got ${uuid",
    ),
    (
        "a reference to an extracted value",
        lambda t: t["amqp"]["publish"].__setitem__("json", {"client": "${token}"}),
        "tests[0].amqp.publish.json.client: expected ${uuid}, ${iteration}, ${vu} or ${env:NAME} (a surface "
        "test has no steps to extract from, nor a data file), got ${token}",
    ),
    (
        "an endpoint beside a broker surface",
        lambda t: t.__setitem__("endpoint", "/x"),
        "tests[0].endpoint: expected no endpoint in a test with surface: amqp (its block says what to send), "
        "got '/x'",
    ),
]


def _written(folder: Path, edit: Edit) -> Path:
    plan = copy.deepcopy(PLAN)
    edit(plan["tests"][0])
    path = folder / "surface.plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False, width=10_000_000), encoding="utf-8")
    return path


@pytest.mark.parametrize(("case", "edit", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_bad_surface_input_names_file_field_and_expected_value(
    tmp_path: Path, case: str, edit: Edit, message: str
) -> None:
    path = _written(tmp_path, edit)
    with pytest.raises(InputError) as caught:
        interpret(load_inputs(path), target_url="http://127.0.0.1:9")
    assert str(caught.value) == f"{path}: " + message


def test_a_broker_outside_loopback_needs_allow_listing(tmp_path: Path) -> None:
    path = _written(tmp_path, _amqp("url", "amqp://guest:secret@broker.example.test:5672/"))
    with pytest.raises(TargetNotAllowedError) as caught:
        interpret(load_inputs(path), target_url="http://127.0.0.1:9")
    assert str(caught.value) == (
        f"{path}: tests[0].amqp.url: expected a loopback host (127.0.0.1, ::1, localhost), got "
        "broker.example.test; to load a non-loopback broker, list it under allowHosts or pass --allow-host "
        "broker.example.test"
    )
    planned = interpret(
        load_inputs(path), target_url="http://127.0.0.1:9", allow_hosts=["broker.example.test"]
    )
    assert planned.tests[0].endpoint == "amqp:notifications.in>notifications.out"
    assert planned.tests[0].profile == (
        "open model: ramp 0→5 messages/s over 100ms, hold 5 messages/s for 1s (measured); amqp "
        "notifications.in>notifications.out (one worker); timeout 10s"
    )


def _run(folder: Path, path: Path) -> int:
    memory = folder / "memory.sqlite"
    return main(
        ["run", "--plan", str(path), "--out", str(folder / "perf"), "--memory", str(memory), "--quiet"]
    )


def test_bad_surface_input_exits_2_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _written(tmp_path, _amqp("consume", {}))
    assert _run(tmp_path, path) == 2
    assert capsys.readouterr().err == (
        f"sk-loadagent: bad input: {path}: tests[0].amqp.consume.queue: expected a value (this field is "
        "required)\n"
    )
    with open_store(tmp_path / "memory.sqlite") as store:
        assert store.keys() == []
    assert not (tmp_path / "perf" / "perf-metrics.json").exists()


def test_a_refused_broker_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _written(tmp_path, _amqp("url", "amqp://guest:guest@127.0.0.1:1/"))
    assert _run(tmp_path, path) == 3
    err = capsys.readouterr().err
    assert err.startswith("sk-loadagent: error: broker amqp://***:***@127.0.0.1:1/ (amqp): cannot connect")
    assert "guest:guest" not in err


def test_a_queue_not_on_the_broker_exits_2_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rabbitmq_server()
    path = _written(tmp_path, _amqp("consume", {"queue": "sk-surface-no-such-queue"}))
    assert _run(tmp_path, path) == 2
    assert capsys.readouterr().err == (
        f"sk-loadagent: bad input: {path}: tests[0].amqp.consume.queue: expected a queue that exists on the "
        "broker amqp://***:***@127.0.0.1:5672/, got 'sk-surface-no-such-queue'\n"
    )
    with open_store(tmp_path / "memory.sqlite") as store:
        assert store.keys() == []


def test_a_websocket_url_outside_loopback_needs_allow_listing(tmp_path: Path) -> None:
    path = _written(tmp_path, _websocket({"url": "wss://feed.example.test/ws", "send": SEND}))
    with pytest.raises(TargetNotAllowedError) as caught:
        interpret(load_inputs(path), target_url="http://127.0.0.1:9")
    assert str(caught.value) == (
        f"{path}: tests[0].websocket.url: expected a loopback host (127.0.0.1, ::1, localhost), got "
        "feed.example.test; to load a non-loopback endpoint, list it under allowHosts or pass --allow-host "
        "feed.example.test"
    )
