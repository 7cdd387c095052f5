"""Broker surfaces on real brokers (RabbitMQ, NATS core and JetStream, Redis Streams): publish at the planned
rate, the lag from the intended publish time to the correlated output, time-to-ack, depth, dead letters as
errors, unanswered messages as timeouts, a refused broker as an unreachable target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from broker_echo import AmqpEcho, NatsEcho, RedisEcho, silent_server
from local_services import nats_server, rabbitmq_server, redis_server

from sk_loadagent.analysis.summary import summarize
from sk_loadagent.engine import RunOptions, RunResult, build_profile, run_load
from sk_loadagent.engine.result import OUTCOME_NAMES
from sk_loadagent.errors import InputError, TargetUnreachableError
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.plan import TestSpec

BASE = "http://127.0.0.1:9"  # the plan's service; a broker test never calls it


def _test(surface: str, block: dict[str, Any], **shape: Any) -> TestSpec:
    document: dict[str, Any] = {
        "type": "load",
        "surface": surface,
        "rps": 40,
        "duration": "1s",
        "rampUp": "0s",
    }
    document.update(shape)
    document[surface] = block
    return validate_document(document, TestSpec, "surfaces.plan.yaml", strict=True)


async def _run(test: TestSpec) -> RunResult:
    return await run_load(build_profile(test, base_url=BASE), RunOptions(workers=0))


def _outcomes(result: RunResult) -> dict[str, int]:
    codes, counts = np.unique(result.samples.outcome, return_counts=True)
    return {OUTCOME_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}


def _amqp(echo: AmqpEcho, message: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "url": echo.url,
        "publish": {"routingKey": echo.inq, "json": message or {"kind": "reminder", "client": "${uuid}"}},
        "consume": {"queue": echo.outq},
        "deadLetter": {"queue": echo.deadq},
    }


async def test_amqp_lag_from_the_intended_publish_time_with_acks_and_depth() -> None:
    async with AmqpEcho(rabbitmq_server(), delay=0.02) as echo:
        result = await _run(_test("amqp", _amqp(echo)))
    assert _outcomes(result) == {"ok": 40}
    lag = result.samples.latency
    assert np.all(lag >= 0.02)  # the consumer holds each message 20 ms: no lag can be shorter
    metrics = summarize(result)
    surface = metrics.surface
    assert surface is not None
    assert surface.kind == "amqp"
    assert surface.published == 40
    assert surface.received == 40
    assert surface.unmatched == 0
    assert surface.time_to_ack is not None
    assert surface.acks == 40
    assert surface.time_to_ack.p50 is not None
    assert surface.time_to_ack.p50 < (metrics.latency.p50 or 0)
    assert surface.depth is not None
    assert {d.name for d in surface.depth} == {echo.inq, echo.outq}
    assert all(d.samples >= 1 for d in surface.depth)
    assert metrics.requests == 40
    assert metrics.error_rate == 0
    assert result.steps == []  # reported as a plain test, not a flow of one step


async def test_amqp_dead_letters_are_errors_and_silence_times_out() -> None:
    async with AmqpEcho(rabbitmq_server()) as echo:
        poisoned = await _run(_test("amqp", _amqp(echo, {"kind": "poison"}), rps=10))
        dropped = await _run(_test("amqp", _amqp(echo, {"kind": "drop"}), rps=10, timeout="300ms"))
    assert _outcomes(poisoned) == {"deadLetter": 10}
    figures = summarize(poisoned).surface
    assert figures is not None
    assert figures.dead_letters == 10
    # Never answered: each ends as a timeout (the last ones after the schedule, never dropped).
    assert _outcomes(dropped) == {"timeout": 10}
    assert dropped.duration < 2.0


async def test_amqp_closed_model_vus_each_wait_for_their_reply() -> None:
    async with AmqpEcho(rabbitmq_server(), delay=0.01) as echo:
        test = _test("amqp", _amqp(echo), type="concurrency", vus=4, rps=None, rampUp=None)
        result = await _run(test)
    outcomes = _outcomes(result)
    assert set(outcomes) == {"ok"}
    assert outcomes["ok"] >= 20


@pytest.mark.parametrize("jetstream", [False, True], ids=["core", "jetstream"])
async def test_nats_lag_and_jetstream_acks(jetstream: bool) -> None:
    async with NatsEcho(nats_server(), delay=0.01, jetstream=jetstream) as echo:
        block: dict[str, Any] = {
            "url": echo.url,
            "publish": {"subject": echo.insubj, "json": {"id": "${uuid}"}},
            "consume": {"subject": echo.outsubj},
        }
        if jetstream:
            block["jetstream"] = {"stream": echo.stream}
        result = await _run(_test("nats", block))
    assert _outcomes(result) == {"ok": 40}
    surface = summarize(result).surface
    assert surface is not None
    assert surface.received == 40
    if jetstream:
        assert surface.acks == 40
        assert surface.time_to_ack is not None
        assert surface.depth is not None
        assert surface.depth[0].name == echo.stream
    else:
        assert surface.acks == 0
        assert surface.time_to_ack is None
        assert surface.depth is None


async def test_nats_dead_letter_subject() -> None:
    async with NatsEcho(nats_server()) as echo:
        block = {
            "url": echo.url,
            "publish": {"subject": echo.insubj, "body": "poison ${iteration}"},
            "consume": {"subject": echo.outsubj},
            "deadLetter": {"subject": echo.deadsubj},
        }
        result = await _run(_test("nats", block, rps=10))
    assert _outcomes(result) == {"deadLetter": 10}


async def test_redis_streams_lag_acks_and_group_depth() -> None:
    async with RedisEcho(redis_server(), delay=0.01) as echo:
        block = {
            "url": echo.url,
            "publish": {"stream": echo.instream, "json": {"id": "${uuid}"}},
            "consume": {"stream": echo.outstream},
            "group": echo.group,
            "deadLetter": {"stream": echo.deadstream},
        }
        result = await _run(_test("redis", block))
        poisoned = await _run(
            _test("redis", {**block, "publish": {"stream": echo.instream, "body": "poison"}}, rps=5)
        )
    assert _outcomes(result) == {"ok": 40}
    surface = summarize(result).surface
    assert surface is not None
    assert surface.acks == 40
    assert surface.received == 40
    assert surface.depth is not None
    assert {d.name for d in surface.depth} == {
        f"{echo.instream}/workers lag",
        f"{echo.instream}/workers pending",
    }
    assert _outcomes(poisoned) == {"deadLetter": 5}


@pytest.mark.parametrize(
    ("surface", "url"),
    [
        ("amqp", "amqp://guest:guest@127.0.0.1:1/"),
        ("nats", "nats://127.0.0.1:1"),
        ("redis", "redis://127.0.0.1:1/0"),
    ],
)
async def test_a_refused_broker_is_an_unreachable_target(surface: str, url: str) -> None:
    blocks = {
        "amqp": {"url": url, "publish": {"routingKey": "in"}, "consume": {"queue": "out"}},
        "nats": {"url": url, "publish": {"subject": "in"}, "consume": {"subject": "out"}},
        "redis": {"url": url, "publish": {"stream": "in"}, "consume": {"stream": "out"}},
    }
    with pytest.raises(TargetUnreachableError) as caught:
        await _run(_test(surface, blocks[surface]))
    assert str(caught.value).startswith(
        f"broker {url.replace('guest:guest', 'guest:***')} ({surface}): cannot"
    )


async def test_an_output_queue_that_is_not_there_is_bad_input() -> None:
    url = rabbitmq_server()
    block = {"url": url, "publish": {"routingKey": "in"}, "consume": {"queue": "sk-surface-no-such-queue"}}
    with pytest.raises(InputError) as caught:
        await _run(_test("amqp", block))
    assert str(caught.value) == (
        "test 'load amqp in>sk-surface-no-such-queue': amqp.consume.queue: expected a queue that exists on "
        "the broker amqp://guest:***@127.0.0.1:5672/, got 'sk-surface-no-such-queue'"
    )


@pytest.mark.parametrize("surface", ["amqp", "nats"])
async def test_a_silent_broker_is_unreachable_within_the_timeout(surface: str) -> None:
    """A server that accepts and never says a word: the probe gives up after the test's timeout. (Redis is
    left out: redis-py 8 leaves the socket of a handshake that timed out open, a ResourceWarning here.)"""
    import time

    began = time.monotonic()
    async with silent_server() as port:
        scheme = {"amqp": "amqp://guest:guest@", "nats": "nats://"}[surface]
        url = f"{scheme}127.0.0.1:{port}/"
        blocks = {
            "amqp": {"url": url, "publish": {"routingKey": "in"}, "consume": {"queue": "out"}},
            "nats": {"url": url, "publish": {"subject": "in"}, "consume": {"subject": "out"}},
        }
        with pytest.raises(TargetUnreachableError):
            await _run(_test(surface, blocks[surface], timeout="1s"))
    assert time.monotonic() - began < 4.0  # the probe's bound: the timeout, plus a second of grace
