"""gRPC on the sample AppointmentService: unary calls and server streams timed from the intended call,
status codes as error classes, the proto compiled at run time and cached, a refused endpoint, bad protos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sk_loadagent.analysis.summary import summarize
from sk_loadagent.cli.main import main
from sk_loadagent.engine import RunOptions, RunResult, build_profile, run_load
from sk_loadagent.engine.result import OUTCOME_NAMES
from sk_loadagent.errors import InputError, TargetUnreachableError
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.plan import TestSpec
from sk_loadagent.sample_service import AppointmentsGrpc, samples_dir

PROTO = str(samples_dir() / "service" / "appointments.proto")
BOOK = {"petId": "${uuid}", "clinicId": "clinic-042", "slot": "2026-12-01T10:00"}


pytestmark = pytest.mark.usefixtures("proto_cache")


def _test(block: dict[str, Any], **shape: Any) -> TestSpec:
    document: dict[str, Any] = {
        "type": "load",
        "surface": "grpc",
        "rps": 20,
        "duration": "1s",
        "rampUp": "0s",
    }
    document.update(shape)
    document["grpc"] = {"proto": PROTO, "service": "vetclinic.AppointmentService", **block}
    return validate_document(document, TestSpec, "grpc.plan.yaml", strict=True)


async def _run(test: TestSpec) -> RunResult:
    return await run_load(build_profile(test, base_url="http://127.0.0.1:9"), RunOptions(workers=0))


def _outcomes(result: RunResult) -> dict[str, int]:
    codes, counts = np.unique(result.samples.outcome, return_counts=True)
    return {OUTCOME_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}


async def test_unary_calls_from_the_intended_call(grpc_server: AppointmentsGrpc) -> None:
    result = await _run(_test({"url": grpc_server.url, "method": "Book", "request": BOOK}))
    assert _outcomes(result) == {"ok": 20}
    metrics = summarize(result)
    assert metrics.latency is not None
    assert (metrics.latency.p50 or 0) > 5.0  # about 20 ms of service time
    assert metrics.surface is not None
    assert metrics.surface.kind == "grpc"
    assert metrics.surface.lag_from == "intended-call"
    assert metrics.surface.stream_messages is None


async def test_server_streams_count_their_messages_and_gaps(grpc_server: AppointmentsGrpc) -> None:
    block = {
        "url": grpc_server.url,
        "method": "WatchSlots",
        "request": {"clinicId": "clinic-042", "count": 4},
    }
    result = await _run(_test(block, rps=10))
    assert _outcomes(result) == {"ok": 10}
    surface = summarize(result).surface
    assert surface is not None
    assert surface.stream_messages is not None
    assert (surface.stream_messages.units, surface.stream_messages.total) == (10, 40)
    assert surface.message_gap is not None
    assert (surface.message_gap.p50 or 0) > 0.5  # a fifth of ~20 ms


async def test_a_status_code_is_the_error_class(grpc_server: AppointmentsGrpc, tmp_path: Path) -> None:
    proto = tmp_path / "missing_service.proto"
    proto.write_text(
        'syntax = "proto3"; package vetclinic.missing; '
        "service Gone { rpc Ask (Q) returns (Q); } message Q {}",
        encoding="utf-8",
    )
    block = {
        "url": grpc_server.url,
        "proto": str(proto),
        "service": "vetclinic.missing.Gone",
        "method": "Ask",
    }
    result = await _run(_test(block, rps=5))
    assert _outcomes(result) == {"grpcUnimplemented": 5}


async def test_a_refused_endpoint_is_an_unreachable_target() -> None:
    test = _test({"url": "grpc://127.0.0.1:1", "method": "Book", "request": BOOK}, timeout="1s")
    with pytest.raises(TargetUnreachableError) as caught:
        await _run(test)
    assert str(caught.value).startswith("endpoint grpc://127.0.0.1:1 (grpc): cannot connect")


def _refused(block: dict[str, Any]) -> str:
    with pytest.raises(InputError) as caught:
        build_profile(_test({"url": "grpc://127.0.0.1:1", **block}), base_url="http://127.0.0.1:9")
    return str(caught.value)


def test_a_proto_that_does_not_compile(tmp_path: Path) -> None:
    proto = tmp_path / "broken.proto"
    proto.write_text('syntax = "proto3"; message Q { strin x = 1; }', encoding="utf-8")
    message = _refused({"proto": str(proto), "method": "Book"})
    assert message == (
        "test 'load grpc vetclinic.AppointmentService/Book': grpc.proto: expected a .proto file protoc "
        f'compiles, got {proto}:1:32: "strin" is not defined.'
    )


def test_a_method_the_proto_does_not_define() -> None:
    assert _refused({"method": "Cancel", "request": BOOK}) == (
        "test 'load grpc vetclinic.AppointmentService/Cancel': grpc.method: expected a method of "
        "vetclinic.AppointmentService (Book, WatchSlots), got 'Cancel'"
    )


def test_a_request_with_a_field_the_message_lacks() -> None:
    message = _refused({"method": "Book", "request": {"petName": "Rex"}})
    assert message.startswith(
        "test 'load grpc vetclinic.AppointmentService/Book': grpc.request: expected the fields of "
        'vetclinic.BookRequest (Message type "vetclinic.BookRequest" has no field named "petName"'
    )


def _grpc_steps(url: str, proto: str) -> list[dict[str, Any]]:
    service = "vetclinic.AppointmentService"
    return [
        {"name": "book", "surface": "grpc", "grpc": {"url": url, "proto": proto, "service": service}},
        {"name": "watch", "surface": "grpc", "grpc": {"url": url, "proto": proto, "service": service}},
    ]


def test_a_flow_steps_proto_resolves_from_the_plan_folder_as_a_tests_does(
    grpc_server: AppointmentsGrpc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's folder holds ``protos/appointments.proto``; the run starts from another folder. A gRPC test
    and a flow's gRPC steps both find it, and each step reports its surface's figures."""
    plans = tmp_path / "plans"
    (plans / "protos").mkdir(parents=True)
    (plans / "protos" / "appointments.proto").write_bytes(Path(PROTO).read_bytes())
    book, watch = _grpc_steps(grpc_server.url, "protos/appointments.proto")
    book["grpc"].update(method="Book", request=BOOK)
    watch["grpc"].update(method="WatchSlots", request={"clinicId": "clinic-042", "count": 3})
    shape = {"type": "load", "rps": 5, "duration": "1s", "rampUp": "0s"}
    plan = {
        "moduleId": "AppointmentsService",
        "baseUrl": "http://127.0.0.1:9",
        "tests": [
            {"name": "book", **shape, "surface": "grpc", "grpc": book["grpc"]},
            {"name": "book-then-watch", **shape, "flow": [book, watch]},
        ],
    }
    path = plans / "grpc.plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "perf"
    code = main(["run", "--plan", str(path), "--out", str(out), "--no-memory", "--quiet"])
    assert code == 0
    suite = json.loads((out / "perf-metrics.json").read_text(encoding="utf-8"))
    flow = next(t for t in suite["tests"] if t["testName"] == "book-then-watch")
    surfaces = [step["surface"] for step in flow["steps"]]
    assert [(s["kind"], s["lagFrom"]) for s in surfaces] == [("grpc", "step-due")] * 2
    assert "streamMessages" not in surfaces[0]  # unary
    assert surfaces[1]["streamMessages"] == {"units": 5, "total": 15, "mean": 3.0, "max": 3}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert (
        "Step watch, grpc vetclinic.AppointmentService/WatchSlots: latency from the moment the step was due"
        in report
    )


def test_a_flow_steps_proto_that_does_not_compile_is_bad_input(tmp_path: Path) -> None:
    proto = tmp_path / "broken.proto"
    proto.write_text('syntax = "proto3"; message Q { strin x = 1; }', encoding="utf-8")
    steps = _grpc_steps("grpc://127.0.0.1:1", str(proto))[:1]
    steps[0]["grpc"].update(method="Book", request=BOOK)
    document = {"name": "booking", "type": "load", "rps": 5, "duration": "1s", "flow": steps}
    test = validate_document(document, TestSpec, "grpc.plan.yaml", strict=True)
    with pytest.raises(InputError) as caught:
        build_profile(test, base_url="http://127.0.0.1:9")
    assert str(caught.value) == (
        f"test 'booking': flow[0].grpc.proto: expected a .proto file protoc compiles, got {proto}:1:32: "
        '"strin" is not defined.'
    )
