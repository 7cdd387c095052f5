"""The surface benches' hand-written servers speak the protocol a real client expects: the WebSocket echo
server the opening handshake, text and binary frames of every length encoding, ping and close; the HTTP/2
gRPC server answers grpcio's own client (grpc-core) call after call on one connection."""

from __future__ import annotations

import shutil

import pytest
from bench_scripts import BENCHMARKS
from bench_scripts import import_bench_module as _import

pytestmark = pytest.mark.skipif(
    shutil.which("taskset") is None, reason="the bench pins processes with taskset"
)


async def test_the_websocket_echo_server_echoes_every_frame_size() -> None:
    from websockets.asyncio.client import connect

    targets = _import("_engine_targets")
    server = targets.start_script(BENCHMARKS / "_engine_surface_servers.py", "websocket", 0, [])
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/", compression=None) as ws:
            for message in ("{}", "x" * 125, "y" * 126, "z" * 70_000):
                await ws.send(message)
                assert await ws.recv() == message
            await ws.send(b"\x00\x01binary")
            assert await ws.recv() == b"\x00\x01binary"
            pong = await ws.ping(b"here")
            await pong
    finally:
        server.stop()


async def test_the_hand_written_grpc_server_answers_grpcios_client() -> None:
    import sys

    import grpc

    sys.path.insert(0, str(BENCHMARKS.parent / "samples" / "service"))
    protos = grpc.protos("appointments.proto")
    targets = _import("_engine_targets")
    server = targets.start_script(BENCHMARKS / "_engine_surface_servers.py", "grpc-fast", 0, [])
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            book = channel.unary_unary(
                "/vetclinic.AppointmentService/Book",
                request_serializer=protos.BookRequest.SerializeToString,
                response_deserializer=protos.Appointment.FromString,
            )
            for pet in ("pet-1", "pet-2" * 20, "p"):
                answer = await book(protos.BookRequest(pet_id=pet, clinic_id="c"), timeout=5)
                assert (answer.id, answer.pet_id, answer.status) == ("apt-1", pet, "booked")
            big = protos.BookRequest(pet_id="x", clinic_id="c" * 100_000)  # past the 64 KiB window
            answers = [await book(big, timeout=5) for _ in range(3)]
            assert [a.status for a in answers] == ["booked"] * 3
    finally:
        server.stop()
