"""WebSocket and gRPC tests run on callbacks (``_flow_fast``'s carriers), not on a task per call; the same
test on the task path (what a flow mixing surfaces uses) gives the same classes and surface figures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from broker_echo import WebSocketEcho

from sk_loadagent.analysis.summary import summarize
from sk_loadagent.engine import RunOptions, RunResult, _worker, build_profile, run_load
from sk_loadagent.engine._flow import CompiledFlow
from sk_loadagent.engine._flow_fast import Carrier, GrpcCarrier, WebSocketCarrier, carrier_for
from sk_loadagent.engine.clients._http import HttpClients
from sk_loadagent.engine.result import OUTCOME_NAMES
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.plan import TestSpec
from sk_loadagent.sample_service import AppointmentsGrpc, samples_dir

PROTO = str(samples_dir() / "service" / "appointments.proto")
PING = {"json": {"op": "ping", "id": "${uuid}"}}


pytestmark = pytest.mark.usefixtures("proto_cache")


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
    return validate_document(document, TestSpec, "paths.plan.yaml", strict=True)


async def _run_on(path: str, monkeypatch: pytest.MonkeyPatch, test: TestSpec) -> tuple[RunResult, list[str]]:
    """The test run in this process on ``callbacks`` (the engine's choice) or on ``tasks``; and the carriers
    the engine chose."""
    chosen: list[str] = []

    def choose(flow: CompiledFlow, http: HttpClients, hub: object | None) -> Carrier | None:
        carrier = carrier_for(flow, http, hub)
        chosen.append(type(carrier).__name__)
        return carrier if path == "callbacks" else None

    with monkeypatch.context() as patch:
        patch.setattr(_worker, "carrier_for", choose)
        result = await run_load(build_profile(test, base_url="http://127.0.0.1:9"), RunOptions(workers=0))
    return result, chosen


def _outcomes(result: RunResult) -> dict[str, int]:
    codes, counts = np.unique(result.samples.outcome, return_counts=True)
    return {OUTCOME_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}


@pytest.mark.parametrize("model", ["open", "closed"])
async def test_websocket_tests_run_on_callbacks_as_on_tasks(
    monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    shape: dict[str, Any] = {} if model == "open" else {"type": "concurrency", "rps": None, "vus": 3}
    async with WebSocketEcho(delay=0.002, close_after=15) as server:
        test = _test("websocket", {"url": server.url + "/ws", "send": PING, "correlate": "$.id"}, **shape)
        fast, chosen = await _run_on("callbacks", monkeypatch, test)
        slow, _ = await _run_on("tasks", monkeypatch, test)
    assert chosen == [WebSocketCarrier.__name__]
    for result in (fast, slow):
        assert set(_outcomes(result)) <= {"ok", "reset"}  # a call may meet the server's close
        assert _outcomes(result).get("ok", 0) >= 30
        surface = summarize(result).surface
        assert surface is not None
        assert surface.connects is not None
        assert surface.closed_by_peer is not None
        assert surface.closed_by_peer >= 1  # the server closes each session after 15 messages
        assert surface.reconnects is not None
        assert surface.reconnects >= 1
        assert surface.lost == 0


async def test_grpc_tests_run_on_callbacks_as_on_tasks(
    monkeypatch: pytest.MonkeyPatch, grpc_server: AppointmentsGrpc
) -> None:
    block = {
        "url": grpc_server.url,
        "proto": PROTO,
        "service": "vetclinic.AppointmentService",
        "method": "Book",
        "request": {"petId": "${uuid}", "clinicId": "clinic-042"},
    }
    fast, chosen = await _run_on("callbacks", monkeypatch, _test("grpc", block, rps=20))
    slow, _ = await _run_on("tasks", monkeypatch, _test("grpc", block, rps=20))
    assert chosen == [GrpcCarrier.__name__]
    assert _outcomes(fast) == _outcomes(slow) == {"ok": 20}
    stream = {**block, "method": "WatchSlots", "request": {"clinicId": "clinic-042", "count": 3}}
    fast, _ = await _run_on("callbacks", monkeypatch, _test("grpc", stream, rps=10))
    slow, _ = await _run_on("tasks", monkeypatch, _test("grpc", stream, rps=10))
    for result in (fast, slow):
        surface = summarize(result).surface
        assert surface is not None
        assert surface.stream_messages is not None
        assert (surface.stream_messages.units, surface.stream_messages.total) == (10, 30)


def test_a_grpc_request_that_does_not_fit_fails_its_call_as_the_task_paths_client_does() -> None:
    from sk_loadagent.engine._flow import CompiledStep, IterationState
    from sk_loadagent.engine.clients._grpc_wire import StepRequestWire
    from sk_loadagent.engine.clients.base import ClientError, outcome_of

    class _Refusing:
        def encode(self, document: dict[str, Any]) -> bytes:
            raise ValueError("Failed to parse petId field: expected string")

    step = CompiledStep(index=0, name="grpc", client="grpc", target="", think=0.0, stop_on_fail=True)
    step.params = {"petId": "${uuid}"}
    wire = StepRequestWire(_Refusing(), step)  # type: ignore[arg-type]
    with pytest.raises(ClientError) as caught:
        wire.render(IterationState(0, 0, ()), None)
    outcome, message = outcome_of(caught.value)
    assert OUTCOME_NAMES[outcome] == "clientError"
    assert message == "request: Failed to parse petId field: expected string"
