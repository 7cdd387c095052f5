"""A flow step's broker is probed before any load, as a surface test's is: refused or silent is an unreachable
target (exit 3), a queue or JetStream stream the step reads that is not there is bad input (exit 2), each
message naming the step (``flow[1].amqp.consume.queue``)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from broker_echo import silent_server
from local_services import nats_server, rabbitmq_server

from sk_loadagent.cli.main import main
from sk_loadagent.engine import RunOptions, build_profile, run_load
from sk_loadagent.errors import InputError, TargetUnreachableError
from sk_loadagent.memory import open_store
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.plan import TestSpec

BASE = "http://127.0.0.1:9"  # the plan's service: no step calls it


def _blocks(url: str) -> dict[str, dict[str, Any]]:
    return {
        "amqp": {"url": url, "publish": {"routingKey": "in"}, "consume": {"queue": "out"}},
        "nats": {"url": url, "publish": {"subject": "in"}, "consume": {"subject": "out"}},
        "redis": {"url": url, "publish": {"stream": "in"}, "consume": {"stream": "out"}},
    }


def _flow_document(surface: str, block: dict[str, Any]) -> dict[str, Any]:
    """Two broker steps: a NATS one on the local server, then ``block`` (named ``notify``)."""
    first = {
        "name": "announce",
        "surface": "nats",
        "nats": {"url": nats_server(), "publish": {"subject": "sk-probe.in"}, "consume": {"subject": "x"}},
    }
    return {
        "name": "announce-then-notify",
        "type": "load",
        "rps": 5,
        "duration": "1s",
        "rampUp": "0s",
        "flow": [first, {"name": "notify", "surface": surface, surface: block}],
    }


async def _run(document: dict[str, Any]) -> None:
    test = validate_document(document, TestSpec, "flow.plan.yaml", strict=True)
    await run_load(build_profile(test, base_url=BASE), RunOptions(workers=0))


@pytest.mark.parametrize(
    ("surface", "url", "shown"),
    [
        ("amqp", "amqp://guest:guest@127.0.0.1:1/", "amqp://guest:***@127.0.0.1:1/"),
        ("nats", "nats://127.0.0.1:1", "nats://127.0.0.1:1"),
        ("redis", "redis://127.0.0.1:1/0", "redis://127.0.0.1:1/0"),
    ],
)
async def test_a_refused_step_broker_is_an_unreachable_target_naming_the_step(
    surface: str, url: str, shown: str
) -> None:
    with pytest.raises(TargetUnreachableError) as caught:
        await _run(_flow_document(surface, _blocks(url)[surface]))
    assert str(caught.value).startswith(
        f"broker {shown} ({surface}) of step flow[1] 'notify': cannot connect ("
    )


async def test_a_step_queue_that_is_not_there_is_bad_input() -> None:
    block = {
        "url": rabbitmq_server(),
        "publish": {"routingKey": "in"},
        "consume": {"queue": "sk-surface-no-such-queue"},
    }
    with pytest.raises(InputError) as caught:
        await _run(_flow_document("amqp", block))
    assert str(caught.value) == (
        "test 'announce-then-notify': flow[1].amqp.consume.queue: expected a queue that exists on the broker "
        "amqp://guest:***@127.0.0.1:5672/, got 'sk-surface-no-such-queue'"
    )


async def test_a_step_jetstream_stream_that_is_not_there_is_bad_input() -> None:
    stream = "SKPROBE_" + uuid.uuid4().hex[:10].upper()
    block = {**_blocks(nats_server())["nats"], "jetstream": {"stream": stream}}
    with pytest.raises(InputError) as caught:
        await _run(_flow_document("nats", block))
    assert str(caught.value) == (
        "test 'announce-then-notify': flow[1].nats.jetstream.stream: expected a stream or consumer that "
        f"exists on the broker nats://127.0.0.1:4222, got '{stream}'"
    )


async def test_a_silent_step_broker_is_unreachable_within_the_timeout() -> None:
    """A server that accepts and never says a word: the probe gives up after the test's timeout."""
    began = time.monotonic()
    async with silent_server() as port:
        document = _flow_document("amqp", _blocks(f"amqp://guest:guest@127.0.0.1:{port}/")["amqp"])
        with pytest.raises(TargetUnreachableError) as caught:
            await _run({**document, "timeout": "1s"})
    assert time.monotonic() - began < 4.0  # the probe's bound: the timeout, plus a second of grace
    assert "of step flow[1] 'notify': cannot connect" in str(caught.value)


def _cli_run(folder: Path, document: dict[str, Any]) -> int:
    plan = {"moduleId": "NotificationService", "baseUrl": BASE, "tests": [document]}
    path = folder / "flow.plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False, width=10_000_000), encoding="utf-8")
    arguments = ["run", "--plan", str(path), "--out", str(folder / "perf"), "--quiet"]
    return main([*arguments, "--memory", str(folder / "memory.sqlite")])


def test_a_refused_step_broker_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = _flow_document("amqp", _blocks("amqp://guest:guest@127.0.0.1:1/")["amqp"])
    assert _cli_run(tmp_path, document) == 3
    err = capsys.readouterr().err
    assert err.startswith(
        "sk-loadagent: error: broker amqp://***:***@127.0.0.1:1/ (amqp) of step flow[1] 'notify': cannot "
        "connect"
    )
    assert "guest:guest" not in err
    assert not (tmp_path / "perf" / "perf-metrics.json").exists()


def test_a_step_queue_not_on_the_broker_exits_2_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block = {"url": rabbitmq_server(), "publish": {"routingKey": "in"}, "consume": {"queue": "sk-no-queue"}}
    assert _cli_run(tmp_path, _flow_document("amqp", block)) == 2
    assert capsys.readouterr().err == (
        f"sk-loadagent: bad input: {tmp_path / 'flow.plan.yaml'}: tests[0].flow[1].amqp.consume.queue: "
        "expected a queue that exists on the broker amqp://***:***@127.0.0.1:5672/, got 'sk-no-queue'\n"
    )
    with open_store(tmp_path / "memory.sqlite") as store:
        assert store.keys() == []
    assert not (tmp_path / "perf" / "perf-metrics.json").exists()
