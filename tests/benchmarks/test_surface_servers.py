"""The surface benches' hand-written WebSocket echo server speaks the protocol a real client expects: the
opening handshake, text and binary frames of every length encoding, ping and close."""

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
