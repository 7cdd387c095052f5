"""Broker surfaces on real brokers (RabbitMQ, NATS core and JetStream, Redis Streams): publish at the planned
rate, the lag from the intended publish time to the correlated output, time-to-ack, depth, dead letters as
errors, unanswered messages as timeouts, a refused broker as an unreachable target."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import numpy as np
import pytest
from broker_echo import AmqpEcho, NatsEcho, RedisEcho, SilentSeen, silent_server
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


@pytest.mark.parametrize("surface", ["amqp", "nats", "redis"])
async def test_a_silent_broker_is_unreachable_within_the_timeout(surface: str) -> None:
    """A server that accepts and never says a word: the probe gives up after the test's timeout and closes
    the socket of the handshake that timed out (redis-py would leave it open, a ResourceWarning, if the
    probe did not drop its connection itself)."""
    seen = SilentSeen()
    began = time.monotonic()
    async with silent_server(seen) as port:
        scheme = {"amqp": "amqp://guest:guest@", "nats": "nats://", "redis": "redis://"}[surface]
        url = f"{scheme}127.0.0.1:{port}/"
        blocks = {
            "amqp": {"url": url, "publish": {"routingKey": "in"}, "consume": {"queue": "out"}},
            "nats": {"url": url, "publish": {"subject": "in"}, "consume": {"subject": "out"}},
            "redis": {"url": url, "publish": {"stream": "in"}, "consume": {"stream": "out"}},
        }
        with pytest.raises(TargetUnreachableError) as caught:
            await _run(_test(surface, blocks[surface], timeout="1s"))
        took = time.monotonic() - began
        await asyncio.sleep(0.05)  # the server's reads see the client's FIN
    assert caught.value.args[0].endswith(")")
    assert ": )" not in caught.value.args[0]  # a bare timeout is named, not left as "TimeoutError: "
    assert seen.accepted > 0
    assert seen.hung_up == seen.accepted  # the client closed every socket it opened
    assert took < 4.0  # the probe's bound: the timeout, plus a second of grace


class _CuttingProxy:
    """A loopback TCP proxy to ``upstream`` that resets every connection, and refuses new ones, ``after``
    seconds after the ``nth`` connection came (the probe's is the first, the worker's the second)."""

    def __init__(self, upstream: tuple[str, int], nth: int, after: float) -> None:
        self.upstream = upstream
        self.nth = nth
        self.after = after
        self.accepted = 0
        self.transports: list[asyncio.Transport] = []
        self.server: asyncio.AbstractServer | None = None
        self.cut_at: float | None = None

    async def __aenter__(self) -> _CuttingProxy:
        self.server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        if self.cut_at is None:
            self.cut_at = time.monotonic()
        assert self.server is not None
        self.server.close()
        for transport in self.transports:
            transport.abort()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.accepted == self.nth:
            asyncio.get_running_loop().call_later(self.after, self.cut)
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.transports += [writer.transport, up_writer.transport]  # type: ignore[list-item]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_an_amqp_broker_that_goes_away_mid_run_is_a_note_not_a_logged_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The connection reset halfway through: later publishes fail (reset) or time out, the run ends within
    its bound, the loss is one note of the run, and aiormq's traceback of its reader is not printed."""
    url = rabbitmq_server()
    async with AmqpEcho(url) as echo, _CuttingProxy(("127.0.0.1", 5672), nth=2, after=0.5) as proxy:
        block = {**_amqp(echo), "url": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}
        began = time.monotonic()
        result = await _run(_test("amqp", block, rps=20, timeout="1s"))
        took = time.monotonic() - began
        printed = [r for r in caplog.records if r.name.startswith(("aiormq", "aio_pika"))]
    assert not printed  # before the echo's own teardown, which logs its consumer's cancel
    assert proxy.cut_at is not None
    assert proxy.cut_at - began < 2.0  # cut during the schedule
    outcomes = _outcomes(result)
    assert outcomes.get("ok", 0) >= 5
    assert sum(outcomes.values()) == 20
    assert set(outcomes) - {"ok"} <= {"reset", "timeout"}
    assert set(outcomes) != {"ok"}
    assert took < 1.0 + 1.0 + 2.0  # the schedule, the in-flight timeout, start-up and shutdown
    lost = [w for w in result.warnings if "connection to the broker was lost" in w]
    assert len(lost) == 1, result.warnings
