"""The WebSocket session on callbacks against a scripted server: frames split and joined across reads,
16- and 64-bit lengths, fragments, pings, the server's close, handshakes that must fail, a masked server
frame; and the message wire of the callback flow path, which must write what a session on tasks writes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from sk_loadagent.engine._flow import IterationState, _rendered, _tree, json_template
from sk_loadagent.engine._flow_fast import _MessageWire
from sk_loadagent.engine.clients._websocket import FastWebSocketConnection, WebSocketHub
from sk_loadagent.engine.clients.base import ClientError, ClientTarget
from sk_loadagent.engine.result import Outcome
from sk_loadagent.models.surfaces import WebSocketSurface

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
Script = Callable[["_Peer"], Awaitable[None]]


def _server_frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = False) -> bytes:
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head = bytes((first, mask_bit | size))
    elif size < 65536:
        head = bytes((first, mask_bit | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, mask_bit | 127)) + size.to_bytes(8, "big")
    return head + (b"\0\0\0\0" if masked else b"") + payload


class _Peer:
    """The server's side of one session: reads the client's frames (unmasked), writes what a test says."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def handshake(
        self, *, status: bytes = b"101 Switching Protocols", accept: bytes | None = None
    ) -> None:
        head = await self.reader.readuntil(b"\r\n\r\n")
        key = re.search(rb"(?i)sec-websocket-key: *([^\r]+)", head)
        assert key is not None
        good = base64.b64encode(hashlib.sha1(key.group(1) + _GUID).digest())
        self.writer.write(
            b"HTTP/1.1 " + status + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + (accept if accept is not None else good) + b"\r\n\r\n"
        )

    async def frame(self) -> tuple[int, bytes]:
        first, second = await self.reader.readexactly(2)
        assert second & 0x80, "a client frame is masked"
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(await self.reader.readexactly(2), "big")
        elif size == 127:
            size = int.from_bytes(await self.reader.readexactly(8), "big")
        key = await self.reader.readexactly(4)
        data = await self.reader.readexactly(size)
        return first & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(data))


@asynccontextmanager
async def _scripted(script: Script) -> AsyncIterator[str]:
    done: list[asyncio.Task[None]] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        done.append(task)
        try:
            await script(_Peer(reader, writer))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        server.close()
        for task in done:
            task.cancel()
        await asyncio.gather(*done, return_exceptions=True)


class _Session:
    """A connection and what its callbacks heard."""

    def __init__(self, url: str, **block: Any) -> None:
        surface = WebSocketSurface.model_validate({"url": url, "send": {"json": {"id": "${uuid}"}}, **block})
        self.hub = WebSocketHub(surface, timeout=2.0, tls=None)
        self.answers: list[bytes] = []
        self.failures: list[Outcome] = []
        self.heard = asyncio.Event()
        self.conn = FastWebSocketConnection(self.hub, self._answered, self._failed)

    def _answered(self) -> None:
        self.answers.append(self.conn.body)
        self.heard.set()

    def _failed(self, outcome: Outcome) -> None:
        self.failures.append(outcome)
        self.heard.set()

    async def connect(self) -> None:
        await self.conn.connect(ClientTarget(self.hub.url, "ws", "127.0.0.1", 0, 2.0))

    async def call(self, message: bytes, expected: str | None) -> None:
        self.heard.clear()
        self.conn.send((message, expected))
        await asyncio.wait_for(self.heard.wait(), 2.0)


async def test_frames_split_joined_long_and_fragmented_reach_the_waiting_call() -> None:
    big = orjson.dumps({"id": "b", "pad": "x" * 70_000})  # a 64-bit length
    pongs: list[bytes] = []

    async def script(peer: _Peer) -> None:
        await peer.handshake()
        texts = 0
        while texts < 4:
            opcode, data = await peer.frame()
            if opcode == 0xA:
                pongs.append(data)
                continue
            assert opcode == 0x1
            texts += 1
            found = orjson.loads(data)["id"]
            if found == "split":  # a frame in two reads, a stray message before it
                wire = _server_frame(0x1, b'{"id": "other"}') + _server_frame(0x1, data)
                peer.writer.write(wire[:5])
                await peer.writer.drain()
                await asyncio.sleep(0.02)
                peer.writer.write(wire[5:])
            elif found == "medium":  # a 16-bit length, a ping first
                peer.writer.write(_server_frame(0x9, b"hb") + _server_frame(0x1, data + b" " * 300))
            elif found == "b":
                peer.writer.write(_server_frame(0x2, big))
            else:  # fragments: text, continuation, continuation
                peer.writer.write(
                    _server_frame(0x1, data[:3], fin=False)
                    + _server_frame(0x0, data[3:6], fin=False)
                    + _server_frame(0x0, data[6:])
                )

    async with _scripted(script) as url:
        session = _Session(url, correlate="$.id")
        await session.connect()
        await session.call(b'{"id": "split"}', "split")
        await session.call(b'{"id": "medium"}', "medium")
        await session.call(big, "b")
        await session.call(b'{"id": "fragments"}', "fragments")
    assert session.failures == []
    assert [orjson.loads(a)["id"] for a in session.answers] == ["split", "medium", "b", "fragments"]
    assert session.answers[2] == big
    assert pongs == [b"hb"]  # the ping answered as it came
    assert session.hub.stats.counts["unmatched"] == 1
    assert session.hub.stats.counts["connects"] == 1


async def test_the_servers_close_frame_is_answered_and_fails_the_waiting_call() -> None:
    answered: list[tuple[int, bytes]] = []

    async def script(peer: _Peer) -> None:
        await peer.handshake()
        await peer.frame()
        peer.writer.write(_server_frame(0x8, b"\x03\xe9going away"))
        answered.append(await peer.frame())

    async with _scripted(script) as url:
        session = _Session(url, correlate="$.id")
        await session.connect()
        await session.call(b'{"id": "a"}', "a")
        await asyncio.sleep(0.05)
    assert session.failures == [Outcome.RESET]
    assert answered == [(0x8, b"\x03\xe9")]  # the close echoed with its status
    assert session.conn.broken
    assert session.hub.stats.counts["closedByPeer"] == 1
    assert session.hub.broken_unreplaced == 1  # the session opened next is a reconnect


async def test_a_masked_server_frame_is_a_protocol_error() -> None:
    async def script(peer: _Peer) -> None:
        await peer.handshake()
        await peer.frame()
        peer.writer.write(_server_frame(0x1, b'{"id": "a"}', masked=True))
        await asyncio.sleep(0.2)

    async with _scripted(script) as url:
        session = _Session(url, correlate="$.id")
        await session.connect()
        await session.call(b'{"id": "a"}', "a")
    assert session.failures == [Outcome.PROTOCOL_ERROR]
    assert session.conn.broken


@pytest.mark.parametrize(
    ("status", "accept"),
    [(b"200 OK", None), (b"101 Switching Protocols", b"bm90IHRoZSBrZXk=")],
    ids=["not-101", "wrong-accept"],
)
async def test_a_handshake_that_does_not_accept_the_session_is_a_connect_error(
    status: bytes, accept: bytes | None
) -> None:
    async def script(peer: _Peer) -> None:
        await peer.handshake(status=status, accept=accept)
        await asyncio.sleep(0.5)

    async with _scripted(script) as url:
        session = _Session(url)
        with pytest.raises(ClientError) as caught:
            await session.connect()
    assert caught.value.error_class == "connectError"
    assert session.hub.stats.counts["connectFailures"] == 1


async def test_a_silent_server_bounds_the_handshake_by_the_timeout() -> None:
    async def script(peer: _Peer) -> None:
        await asyncio.sleep(5)

    async with _scripted(script) as url:
        session = _Session(url)
        session.hub.timeout = 0.2
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(ClientError):
            await session.connect()
        assert loop.time() - began < 1.0


async def test_an_aborted_call_is_lost_and_the_next_session_is_a_reconnect() -> None:
    async def script(peer: _Peer) -> None:
        await peer.handshake()
        await peer.frame()
        await asyncio.sleep(1)

    async with _scripted(script) as url:
        session = _Session(url, correlate="$.id")
        await session.connect()
        session.conn.send((b'{"id": "a"}', "a"))
        session.conn.abort(Outcome.TIMEOUT)
    assert session.failures == [Outcome.TIMEOUT]
    assert session.hub.stats.counts["lost"] == 1
    assert session.hub.broken_unreplaced == 1


# -- the message wire (callback path) against the session on tasks -----------------------------------------
def _wire(send: dict[str, Any], correlate: str | None) -> tuple[_MessageWire, WebSocketHub, Any]:
    from sk_loadagent.engine._flow import CompiledStep

    block: dict[str, Any] = {"url": "ws://127.0.0.1:9/", "send": send}
    if correlate is not None:
        block["correlate"] = correlate
    hub = WebSocketHub(WebSocketSurface.model_validate(block), timeout=1.0, tls=None)
    params = _tree(send, ())
    step = CompiledStep(index=0, name="ws", client="websocket", target="", think=0.0, stop_on_fail=True)
    step.params = params
    return _MessageWire(step, hub), hub, params


@pytest.mark.parametrize(
    ("send", "correlate"),
    [
        ({"json": {"op": "ping", "id": "${uuid}"}}, "$.id"),
        ({"json": {"op": "ping", "meta": {"seq": "n-${iteration}"}, "vu": "${vu}"}}, "$.meta.seq"),
        ({"json": {"id": 7, "text": 'a "quoted" \\ é\t${vu}', "list": [1, None, True, 2.5]}}, "$.id"),
        ({"json": {"nested": {"id": "${uuid}"}}}, "$.nested"),  # a node that is not one text
        ({"json": {"id": "${uuid}"}}, None),
        ({"body": "plain ${vu}"}, None),
    ],
)
def test_the_message_wire_writes_what_a_session_on_tasks_writes(
    send: dict[str, Any], correlate: str | None
) -> None:
    wire, hub, params = _wire(send, correlate)
    for index in range(3):
        it = IterationState(index, 4, ())
        fast = wire.render(it, None)
        slow = hub.message(_rendered(params, it))  # the session on tasks
        assert fast == slow


def test_a_message_without_the_correlation_field_fails_on_both_paths() -> None:
    wire, hub, params = _wire({"json": {"op": "ping"}}, "$.id")
    with pytest.raises(ClientError) as fast:
        wire.render(IterationState(0, 0, ()), None)
    with pytest.raises(ClientError) as slow:
        hub.message(_rendered(params, IterationState(0, 0, ())))
    assert fast.value.error_class == slow.value.error_class == "correlation"


def test_json_template_renders_what_orjson_writes() -> None:
    tree = _tree({"a": ["x", "${iteration}", {"q": 'he said "hi" \\ ${vu}'}], "u": "é–\u2028\x01"}, ())
    it = IterationState(7, 3, ())
    assert json_template(tree).render(it).encode() == orjson.dumps(_rendered(tree, it))


def test_uuids_are_random_version_4_and_fresh_per_iteration() -> None:
    import uuid

    seen = {IterationState(i, 0, ()).uuid() for i in range(2000)}
    assert len(seen) == 2000
    for text in list(seen)[:50]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
