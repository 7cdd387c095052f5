"""WebSocket sessions: round trips matched by correlation from the intended send, connect time, churn and
reconnects, lost messages, pushed messages timed from their publish-side timestamp, a refused endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from broker_echo import WebSocketEcho
from tls_support import Pki

from sk_loadagent.analysis.summary import summarize
from sk_loadagent.engine import RunOptions, RunResult, build_profile, run_load
from sk_loadagent.engine.result import OUTCOME_NAMES
from sk_loadagent.errors import TargetUnreachableError
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.plan import TestSpec


def _test(block: dict[str, Any], **shape: Any) -> TestSpec:
    document: dict[str, Any] = {"type": "concurrency", "surface": "websocket", "vus": 3, "duration": "1s"}
    document.update(shape)
    document["websocket"] = block
    return validate_document(document, TestSpec, "surfaces.plan.yaml", strict=True)


async def _run(test: TestSpec, base_url: str) -> RunResult:
    return await run_load(build_profile(test, base_url=base_url), RunOptions(workers=0))


def _outcomes(result: RunResult) -> dict[str, int]:
    codes, counts = np.unique(result.samples.outcome, return_counts=True)
    return {OUTCOME_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}


PING = {"json": {"op": "ping", "id": "${uuid}"}}


async def test_vus_sessions_round_trip_by_correlation_with_connect_time() -> None:
    async with WebSocketEcho(delay=0.005) as server:
        test = _test({"path": "/ws/notifications", "send": PING, "correlate": "$.id"})
        result = await _run(test, server.url.replace("ws://", "http://"))
    outcomes = _outcomes(result)
    assert set(outcomes) == {"ok"}
    assert outcomes["ok"] >= 30  # 3 sessions, ~5 ms a round trip, for 1 s
    assert np.all(result.samples.latency >= 0.005)
    metrics = summarize(result)
    surface = metrics.surface
    assert surface is not None
    assert surface.kind == "websocket"
    assert surface.lag_from == "intended-send"
    assert surface.target == "/ws/notifications"
    assert surface.connects == 3
    assert surface.reconnects == 0
    assert surface.connect_time is not None
    assert surface.lost == 0


async def test_open_model_churn_and_peer_closes_count_as_reconnects() -> None:
    async with WebSocketEcho(close_after=5) as server:
        block = {"url": server.url + "/ws", "send": PING, "correlate": "$.id", "messagesPerConnection": 10}
        result = await _run(_test(block, type="load", vus=None, rps=40, rampUp="0s"), "http://127.0.0.1:9")
    surface = summarize(result).surface
    assert surface is not None
    assert surface.closed_by_peer is not None
    assert surface.closed_by_peer >= 5  # the server closes each session after 5 messages
    assert surface.connects is not None
    assert surface.connects >= 8
    assert surface.reconnects is not None
    assert surface.reconnects >= 1


async def test_a_message_without_reply_is_lost_as_a_timeout() -> None:
    async with WebSocketEcho() as server:
        block = {"path": "/", "send": {"json": {"op": "drop", "id": "${uuid}"}}, "correlate": "$.id"}
        result = await _run(_test(block, vus=2, timeout="200ms"), server.url.replace("ws://", "http://"))
    outcomes = _outcomes(result)
    assert set(outcomes) == {"timeout"}
    surface = summarize(result).surface
    assert surface is not None
    assert surface.lost == sum(outcomes.values())


async def test_pushed_messages_are_timed_from_their_publish_side_timestamp() -> None:
    async with WebSocketEcho(delay=0.002) as server:
        block = {
            "path": "/feed",
            "send": PING,
            "correlate": "$.id",
            "subscribe": {"send": {"json": {"op": "subscribe"}}, "timestamp": "$.ts"},
        }
        result = await _run(_test(block, vus=1), server.url.replace("ws://", "http://"))
    surface = summarize(result).surface
    assert surface is not None
    assert surface.pushes is not None
    assert surface.pushes >= 20  # every 20 ms for ~1 s
    assert surface.push_latency is not None
    assert surface.push_latency.p50 is not None
    assert 4.0 <= surface.push_latency.p50 < 200.0  # stamped 5 ms before it was sent
    assert set(_outcomes(result)) == {"ok"}


async def test_wss_sessions_verify_the_server_with_the_tests_ca(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    context = pki.server_context()
    context.set_alpn_protocols(["http/1.1"])
    async with WebSocketEcho(ssl=context) as server:
        base = server.url.replace("wss://", "https://")
        block = {"path": "/ws", "send": PING, "correlate": "$.id"}
        trusted = await _run(_test(block, vus=2, tls={"caFile": str(pki.ca_file)}), base)
        with pytest.raises(TargetUnreachableError):
            await _run(_test(block, vus=2), base)  # the system's CAs do not know the test CA
    assert set(_outcomes(trusted)) == {"ok"}


async def test_a_refused_endpoint_is_an_unreachable_target() -> None:
    test = _test({"url": "ws://127.0.0.1:1/ws", "send": PING})
    with pytest.raises(TargetUnreachableError) as caught:
        await _run(test, "http://127.0.0.1:9")
    assert str(caught.value).startswith("endpoint ws://127.0.0.1:1/ws (websocket): cannot connect")
