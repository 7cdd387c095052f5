"""The engine's own gRPC connection (``clients._grpc_wire``) against a real grpcio server and a scripted one.

A grpcio server (threads, on 127.0.0.1) serves ``wiretest.Echo``: unary ``Say`` (echoes the text's length,
a blob of ``size`` bytes, a status ``code`` before answering, a ``delay``) and server-streaming ``Many``
(``count`` messages of ``size`` bytes, then ``code``). The scripted server speaks HTTP/2 frame by frame, for
what grpcio does not do on demand: RST_STREAM, GOAWAY, padding, CONTINUATION, PING, EOF mid-call.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from hpack import Decoder, Encoder

from sk_loadagent.engine.clients._grpc import GrpcClient, GrpcHub, compile_proto, probe_grpc, request_message
from sk_loadagent.engine.clients._grpc_wire import (
    PREFACE,
    GrpcRequestWire,
    HeaderCache,
    frame,
    grpc_timeout,
    header_block,
    headers_frames,
)
from sk_loadagent.engine.clients.base import Call, ClientError, Reply
from sk_loadagent.engine.result import OUTCOME_NAMES, Outcome
from sk_loadagent.models.plan import TlsOptions
from sk_loadagent.models.surfaces import GrpcSurface

PROTO = """syntax = "proto3";
package wiretest;
service Echo {
  rpc Say (Req) returns (Resp);
  rpc Many (Req) returns (stream Resp);
}
message Inner { string note = 1; }
message Req {
  string text = 1; int32 count = 2; int32 size = 3; int32 code = 4; double delay = 5; bool flag = 6;
  repeated string tags = 7; Inner inner = 8; int64 big = 9; uint32 small = 10; float ratio = 11;
  bytes raw = 12; oneof pick { string left = 13; string right = 14; }
}
message Resp { int64 length = 1; bytes blob = 2; }
"""
_DATA, _HEADERS, _PRIORITY, _RST, _SETTINGS, _PUSH, _PING, _GOAWAY, _WINDOW, _CONT = range(10)


@pytest.fixture(scope="module")
def pb2(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("proto")
    (folder / "wiretest.proto").write_text(PROTO, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
        module = compile_proto(str(folder / "wiretest.proto"))
    module.proto_folder = folder  # where _hub finds the proto and its compiled cache
    return module


class Echo:
    """The grpcio server's handlers (in its thread pool)."""

    def __init__(self, pb2: Any) -> None:
        self.pb2 = pb2
        self.started = 0

    def say(self, req: Any, context: grpc.ServicerContext) -> Any:
        self.started += 1
        if req.delay:
            time.sleep(req.delay)
        if req.code:
            context.abort(grpc.StatusCode(_code(req.code)), "asked for")  # trailers-only
        return self.pb2.Resp(length=len(req.text), blob=b"x" * req.size)

    def many(self, req: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self.started += 1
        for _ in range(req.count):
            if req.delay:
                time.sleep(req.delay)
            yield self.pb2.Resp(length=req.count, blob=b"y" * req.size)
        if req.code:
            context.abort(grpc.StatusCode(_code(req.code)), "after the messages")


def _code(value: int) -> tuple[int, str]:
    return next(c.value for c in grpc.StatusCode if c.value[0] == value)


def _server(pb2: Any, credentials: grpc.ServerCredentials | None = None) -> tuple[grpc.Server, int, Echo]:
    echo = Echo(pb2)
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(
            echo.say, request_deserializer=pb2.Req.FromString, response_serializer=pb2.Resp.SerializeToString
        ),
        "Many": grpc.unary_stream_rpc_method_handler(
            echo.many, request_deserializer=pb2.Req.FromString, response_serializer=pb2.Resp.SerializeToString
        ),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("wiretest.Echo", handlers),))
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, port, echo


@pytest.fixture(scope="module")
def echo_server(pb2: Any) -> Iterator[int]:
    server, port, _ = _server(pb2)
    try:
        yield port
    finally:
        server.stop(grace=None)


def _hub(
    pb2: Any, port: int, method: str = "Say", *, timeout: float = 5.0, scheme: str = "grpc", **more: Any
) -> GrpcHub:
    proto = pb2.proto_folder / "wiretest.proto"
    block = GrpcSurface(
        url=f"{scheme}://127.0.0.1:{port}", proto=str(proto), service="wiretest.Echo", method=method
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(proto.parent / "cache"))
        return GrpcHub(block, timeout, more.get("tls"))


async def _client(hub: GrpcHub) -> GrpcClient:
    client = hub.new()
    assert isinstance(client, GrpcClient)
    await client.connect(hub.client_target())
    return client


async def _call(client: GrpcClient, params: dict[str, Any], within: float = 5.0) -> Reply:
    return await asyncio.wait_for(client.call(Call("step", 0, 0, params=params)), within)


async def _fails(client: GrpcClient, params: dict[str, Any], within: float = 5.0) -> str:
    with pytest.raises(ClientError) as caught:
        await _call(client, params, within)
    return caught.value.error_class


# -- a real grpcio server ------------------------------------------------------------------------------------
async def test_unary_calls_follow_one_another_on_one_connection(pb2: Any, echo_server: int) -> None:
    hub = _hub(pb2, echo_server)
    client = await _client(hub)
    try:
        for k in range(5):
            params = {"text": "a" * k, "size": k}
            reply = await _call(client, params)
            assert pb2.Resp.FromString(reply.body) == pb2.Resp(length=k, blob=b"x" * k)
            assert reply.status is None
            assert reply.headers == {}
            assert reply.bytes_in == len(reply.body)
            assert reply.bytes_out == request_message(hub.method, params).ByteSize()
        assert not client.broken
        assert not client.busy
        assert 1 <= len(hub.header_cache.blocks) <= 3  # the server's blocks, each decoded once
    finally:
        await client.close()


async def test_server_streams_count_messages_split_over_frames(pb2: Any, echo_server: int) -> None:
    hub = _hub(pb2, echo_server, "Many")
    client = await _client(hub)
    try:
        # Many small messages; messages over 16 KiB (split over frames) and over 64 KiB (the default window).
        # Then a stream past this side's 16 MiB stream window: it flows on its WINDOW_UPDATEs.
        for count, size in ((300, 3), (4, 20_000), (3, 100_000), (40, 70_000), (5, 4_000_000)):
            reply = await _call(client, {"count": count, "size": size})
            one = pb2.Resp(length=count, blob=b"y" * size).ByteSize()
            assert reply.bytes_in == count * one
            assert reply.bytes_out == request_message(hub.method, {"count": count, "size": size}).ByteSize()
    finally:
        await client.close()


@pytest.mark.parametrize("method", ["Say", "Many"])
async def test_a_message_over_4_mib_is_resource_exhausted_as_in_grpcio(
    pb2: Any, echo_server: int, method: str
) -> None:
    client = await _client(_hub(pb2, echo_server, method))
    try:
        assert await _fails(client, {"count": 2, "size": 4 * 1024 * 1024 + 1}) == "grpcResourceExhausted"
        assert (await _call(client, {"count": 1, "size": 10})).bytes_in > 0  # the connection carries on
    finally:
        await client.close()


async def test_stream_figures_match_the_task_path(pb2: Any, echo_server: int) -> None:
    hub = _hub(pb2, echo_server, "Many")
    recorded: list[tuple[str, float]] = []
    hub.stats.timed = lambda name, began, seconds: recorded.append((name, seconds))  # type: ignore[method-assign]
    client = await _client(hub)
    try:
        await _call(client, {"count": 4, "size": 10})
        assert [name for name, _ in recorded] == ["messageGap"] * 3 + ["streamMessages"]
        assert recorded[-1][1] == 4.0
        recorded.clear()
        # A stream that fails still counts the messages it brought (grpcio's path counted them in a finally).
        assert await _fails(client, {"count": 2, "code": 14}) == "grpcUnavailable"
        assert recorded == [("messageGap", recorded[0][1]), ("streamMessages", 2.0)]
    finally:
        await client.close()


async def test_a_request_over_the_send_window_waits_for_window_updates(pb2: Any, echo_server: int) -> None:
    hub = _hub(pb2, echo_server)
    client = await _client(hub)
    try:
        text = "t" * 300_000  # over the 64 KiB a stream may send before the server's WINDOW_UPDATE
        reply = await _call(client, {"text": text})
        assert pb2.Resp.FromString(reply.body).length == len(text)
        reply = await _call(client, {"text": "after"})  # the connection's window was kept right
        assert pb2.Resp.FromString(reply.body).length == 5
    finally:
        await client.close()


@pytest.mark.parametrize("code", range(1, 17))
async def test_each_status_is_its_error_class(pb2: Any, echo_server: int, code: int) -> None:
    client = await _client(_hub(pb2, echo_server))
    try:
        expected = OUTCOME_NAMES[Outcome.GRPC_CANCELLED + code - 1]
        assert expected == "grpc" + "".join(
            w.capitalize() for w in grpc.StatusCode(_code(code)).name.split("_")
        )
        assert await _fails(client, {"code": code}) == expected  # trailers-only
        assert not client.broken  # a status ends the call, not the connection
        assert pb2.Resp.FromString((await _call(client, {"text": "ok"})).body).length == 2
    finally:
        await client.close()


async def test_a_status_after_stream_messages_fails_the_stream(pb2: Any, echo_server: int) -> None:
    client = await _client(_hub(pb2, echo_server, "Many"))
    try:
        assert await _fails(client, {"count": 3, "code": 9}) == "grpcFailedPrecondition"
    finally:
        await client.close()


async def test_the_servers_deadline_and_the_engines_timeout(pb2: Any, echo_server: int) -> None:
    hub = _hub(pb2, echo_server, timeout=0.3)
    assert grpc_timeout(0.3) == "300m"
    assert grpc_timeout(2e6) == "2000000S"
    client = await _client(hub)
    try:
        began = time.perf_counter()
        assert await _fails(client, {"delay": 1.0}) == "grpcDeadlineExceeded"  # grpc-timeout: 300m
        assert time.perf_counter() - began < 0.9
    finally:
        await client.close()
    client = await _client(_hub(pb2, echo_server, timeout=5.0))
    waiting = client.call(Call("step", 0, 0, params={"delay": 0.5}))
    await asyncio.sleep(0.1)
    client.abort(Outcome.TIMEOUT)  # what the engine's sweep does to a call past its timeout
    with pytest.raises(ClientError) as caught:
        await asyncio.wait_for(waiting, 1.0)
    assert caught.value.error_class == "timeout"
    assert client.broken
    assert not client.busy


async def test_a_server_stopped_mid_run_ends_every_call(pb2: Any) -> None:
    server, port, echo = _server(pb2)
    hub = _hub(pb2, port)
    clients = [await _client(hub) for _ in range(6)]
    calls = [c.call(Call("step", 0, 0, params={"delay": 2.0})) for c in clients]
    for _ in range(100):  # bounded: until the server runs them all
        if echo.started >= len(calls):
            break
        await asyncio.sleep(0.02)
    began = time.perf_counter()
    await asyncio.to_thread(server.stop, None)
    ended = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5.0)
    assert time.perf_counter() - began < 3.0
    classes = {e.error_class for e in ended if isinstance(e, ClientError)}
    assert all(isinstance(e, ClientError) for e in ended)
    assert classes <= {"grpcUnavailable", "grpcCancelled", "grpcInternal"}, classes
    assert all(c.broken for c in clients)
    for client in clients:
        await client.close()
    with pytest.raises(ClientError) as caught:  # no server any more: the next connect is refused
        await _client(hub)
    assert caught.value.error_class == "grpcUnavailable"  # as grpcio classes it


async def test_a_silent_server_fails_the_probe_within_its_timeout(pb2: Any) -> None:
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)  # takes the preface, says nothing
        await asyncio.wait_for(done.wait(), 5.0)
        writer.close()

    listening = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        hub = _hub(pb2, port)
        began = time.perf_counter()
        with pytest.raises(ConnectionError, match=rf"no gRPC server answered at 127\.0\.0\.1:{port}$"):
            await probe_grpc(hub.block, 0.4, None)
        assert time.perf_counter() - began < 1.5
        with pytest.raises(ConnectionError, match=r"no gRPC server answered at 127\.0\.0\.1:1$"):
            await probe_grpc(_hub(pb2, 1).block, 0.4, None)  # refused: fails at once
    finally:
        done.set()
        listening.close()
        await asyncio.sleep(0.05)  # the handler closes its side


async def test_grpcs_verifies_the_server_with_the_tests_ca(pb2: Any, tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    chain = b"".join(pem.bytes() for pem in issued.cert_chain_pems)
    credentials = grpc.ssl_server_credentials([(issued.private_key_pem.bytes(), chain)])
    server, port, _ = _server(pb2, credentials)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        hub = _hub(pb2, port, scheme="grpcs", tls=TlsOptions(ca_file=str(ca_file)))
        await probe_grpc(hub.block, 2.0, TlsOptions(ca_file=str(ca_file)))
        client = await _client(hub)
        try:
            assert pb2.Resp.FromString((await _call(client, {"text": "secure"})).body).length == 6
        finally:
            await client.close()
        untrusted = _hub(pb2, port, scheme="grpcs")  # the system's CAs do not know the test CA
        with pytest.raises(ClientError) as caught:
            await _client(untrusted)
        assert caught.value.error_class == "tls"
        with pytest.raises(ConnectionError):
            await probe_grpc(untrusted.block, 1.0, None)
    finally:
        server.stop(grace=None)


async def test_a_refused_endpoint_fails_the_connect_as_grpcio_does(pb2: Any) -> None:
    with pytest.raises(ClientError) as caught:
        await _client(_hub(pb2, 1))
    assert caught.value.error_class == "grpcUnavailable"


# -- header blocks -------------------------------------------------------------------------------------------
def test_the_header_cache_is_bounded_and_keeps_only_state_free_blocks() -> None:
    cache = HeaderCache(size=3)
    encoder = Encoder()
    encoder.header_table_size = 0  # the first block says so, as a server does after SETTINGS
    decoder = Decoder()
    blocks = [encoder.encode([("grpc-status", str(k)), ("grpc-message", f"m{k}")]) for k in range(10)]
    for k, block in enumerate(blocks):
        assert cache.decode(decoder, block) == {"grpc-status": str(k), "grpc-message": f"m{k}"}
    assert len(cache.blocks) == 3
    assert cache.decode(decoder, blocks[1]) == {"grpc-status": "1", "grpc-message": "m1"}  # from the cache
    # A block that indexes into the dynamic table depends on what came before it: never kept.
    indexing = Encoder()
    other = Decoder()
    first = indexing.encode([("x-a", "1")])
    second = indexing.encode([("x-a", "1")])  # refers to the entry ``first`` added
    fresh = HeaderCache()
    assert fresh.decode(other, first) == {"x-a": "1"}
    assert fresh.decode(other, second) == {"x-a": "1"}
    assert fresh.blocks == {}


# -- request messages ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "document",
    [
        {"text": "plain", "count": 3, "flag": True, "delay": 0.25},
        {"text": "", "count": 0},
        {"big": 2**62, "small": 2**32 - 1, "code": -5},
        {"text": "été ☃"},  # not ASCII: ParseDict's path
        {"count": "7"},  # a number as text: ParseDict converts it
        {"tags": ["a", "b"], "inner": {"note": "n"}, "raw": "eA==", "ratio": 0.5, "left": "l"},
        {"count": 1.0, "delay": 2},
    ],
)
def test_the_request_wire_gives_parse_dicts_bytes(pb2: Any, document: dict[str, Any]) -> None:
    hub = _hub(pb2, 1)
    wire = GrpcRequestWire(hub.method)
    assert wire.encode(document) == request_message(hub.method, document).SerializeToString()


@pytest.mark.parametrize(
    "document",
    [
        {"nope": 1},
        {"text": 5},
        {"count": True},
        {"count": 2**31},
        {"small": -1},
        {"text": "a", "text_": 1},
        {"delay": float("nan")},
        {"left": "l", "right": "r"},
        {"count": 1, "count2": 1},
    ],
)
def test_the_request_wire_raises_parse_dicts_errors(pb2: Any, document: dict[str, Any]) -> None:
    hub = _hub(pb2, 1)
    with pytest.raises(ValueError, match=r"\w") as expected:
        request_message(hub.method, document)
    with pytest.raises(ValueError, match=r"\w") as got:
        GrpcRequestWire(hub.method).encode(document)
    assert str(got.value) == str(expected.value)


def test_a_request_without_references_is_serialized_once(pb2: Any) -> None:
    hub = _hub(pb2, 1)
    wire = GrpcRequestWire(hub.method, {"text": "fixed", "tags": ["x"]})
    assert wire.static == request_message(hub.method, {"text": "fixed", "tags": ["x"]}).SerializeToString()
    assert wire.encode({"text": "fixed", "tags": ["x"]}) is wire.static
    assert (
        wire.encode({"text": "other"}) == request_message(hub.method, {"text": "other"}).SerializeToString()
    )
    assert GrpcRequestWire(hub.method, {"text": "${uuid}"}).static is None
    assert (
        GrpcRequestWire(hub.method, {"text": "costs $$5"}).static is None
    )  # $$ renders as $: not as written
    assert GrpcRequestWire(hub.method, {"nope": 1}).static is None  # each call reports the error


# -- a scripted HTTP/2 server --------------------------------------------------------------------------------
Script = Callable[[int, Encoder], bytes]


class Scripted:
    """An HTTP/2 server that answers each request's end with ``script(stream, encoder)`` (None: closes)."""

    def __init__(self, script: Script | None) -> None:
        self.script = script
        self.pings_acked: list[bytes] = []
        self.requests = 0
        self.delay = 0.0  # before each answer
        self.header_frames: list[tuple[int, int, int]] = []  # (type, flags, stream) of HEADERS, CONTINUATION
        self.blocks: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        encoder = Encoder()
        encoder.header_table_size = 0  # the client's SETTINGS ask for it; the first block says so
        try:
            assert await reader.readexactly(len(PREFACE)) == PREFACE
            writer.write(frame(_SETTINGS, 0, 0, struct.pack(">HL", 4, 1 << 20)))
            for _ in range(1000):  # bounded: a test sends a few calls
                head = await reader.readexactly(9)
                length, kind, flags = int.from_bytes(head[:3]), head[3], head[4]
                stream = int.from_bytes(head[5:9]) & 0x7FFFFFFF
                payload = await reader.readexactly(length)
                if kind == _PING and flags & 1:
                    self.pings_acked.append(payload)
                if kind in (_HEADERS, _CONT):
                    self.header_frames.append((kind, flags, stream))
                    if kind == _HEADERS:
                        self.blocks.append(payload)
                    else:
                        self.blocks[-1] += payload
                if kind == _DATA and flags & 1:
                    self.requests += 1
                    if self.script is None:
                        writer.close()
                        return
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    writer.write(self.script(stream, encoder))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Script | None], Any]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script | None) -> tuple[Scripted, int]:
        state = Scripted(script)
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        servers.append(server)
        return state, server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()


def _message(pb2: Any, length: int) -> bytes:
    body = pb2.Resp(length=length).SerializeToString()
    return struct.pack(">BL", 0, len(body)) + body


def _ok_trailers(stream: int, encoder: Encoder) -> bytes:
    return frame(_HEADERS, 0x5, stream, encoder.encode([("grpc-status", "0")]))


@pytest.mark.parametrize(
    ("code", "expected"), [(0x7, "grpcUnavailable"), (0x8, "grpcCancelled"), (0x2, "grpcInternal")]
)
async def test_rst_stream_is_classed_as_grpcio_classes_it(
    pb2: Any, scripted: Callable[..., Any], code: int, expected: str
) -> None:
    _, port = await scripted(lambda stream, _e: frame(_RST, 0, stream, struct.pack(">L", code)))
    client = await _client(_hub(pb2, port))
    try:
        assert await _fails(client, {"text": "x"}) == expected
        assert not client.broken
    finally:
        await client.close()


async def test_a_cancel_past_the_deadline_is_deadline_exceeded(
    pb2: Any, scripted: Callable[..., Any]
) -> None:
    state, port = await scripted(lambda stream, _e: frame(_RST, 0, stream, struct.pack(">L", 0x8)))
    state.delay = 0.25  # the server resets the stream after the call's 0.2 s deadline
    client = await _client(_hub(pb2, port, timeout=0.2))
    try:
        assert await _fails(client, {"text": "x"}) == "grpcDeadlineExceeded"
    finally:
        await client.close()


async def test_goaway_fails_a_call_it_did_not_take_and_ends_the_connection(
    pb2: Any, scripted: Callable[..., Any]
) -> None:
    _, port = await scripted(lambda stream, _e: frame(_GOAWAY, 0, 0, struct.pack(">LL", 0, 0)))
    client = await _client(_hub(pb2, port))
    assert await _fails(client, {"text": "x"}) == "grpcUnavailable"
    assert client.broken
    await client.close()


async def test_goaway_lets_a_call_it_took_complete(pb2: Any, scripted: Callable[..., Any]) -> None:
    def script(stream: int, encoder: Encoder) -> bytes:
        head = frame(
            _HEADERS, 0x4, stream, encoder.encode([(":status", "200"), ("content-type", "application/grpc")])
        )
        goaway = frame(_GOAWAY, 0, 0, struct.pack(">LL", stream, 0))
        return head + goaway + frame(_DATA, 0, stream, _message(pb2, 7)) + _ok_trailers(stream, encoder)

    _, port = await scripted(script)
    client = await _client(_hub(pb2, port))
    reply = await _call(client, {"text": "x"})
    assert pb2.Resp.FromString(reply.body).length == 7
    assert client.broken  # the engine opens another connection for the next call
    await client.close()


async def test_padding_continuation_ping_priority_and_unknown_frames(
    pb2: Any, scripted: Callable[..., Any]
) -> None:
    def script(stream: int, encoder: Encoder) -> bytes:
        block = encoder.encode(
            [(":status", "200"), ("content-type", "application/grpc"), ("x-long", "v" * 300)]
        )
        padded_head = bytes([4]) + block[:100] + b"\0" * 4
        message = _message(pb2, 42)
        first, rest = message[:3], message[3:]  # a message split over two DATA frames, one of them padded
        return b"".join(
            (
                frame(_HEADERS, 0x8, stream, padded_head),  # PADDED, no END_HEADERS
                frame(_CONT, 0, stream, block[100:200]),
                frame(_CONT, 0x4, stream, block[200:]),
                frame(_PING, 0, 0, b"12345678"),
                frame(_PRIORITY, 0, stream, b"\0\0\0\0\x10"),
                frame(0x20, 0, 0, b"unknown"),
                frame(_DATA, 0x8, stream, bytes([2]) + first + b"\0\0"),
                frame(_DATA, 0, stream, rest),
                _ok_trailers(stream, encoder),
            )
        )

    state, port = await scripted(script)
    client = await _client(_hub(pb2, port))
    try:
        for _ in range(2):
            reply = await _call(client, {"text": "x"})
            assert pb2.Resp.FromString(reply.body).length == 42
        for _ in range(100):  # bounded: the server reads the second ACK after the client read the answer
            if len(state.pings_acked) == 2:
                break
            await asyncio.sleep(0.01)
        assert state.pings_acked == [b"12345678"] * 2
    finally:
        await client.close()


async def test_an_http_status_without_grpc_status_is_classed(pb2: Any, scripted: Callable[..., Any]) -> None:
    def script(stream: int, encoder: Encoder) -> bytes:
        return frame(
            _HEADERS, 0x5, stream, encoder.encode([(":status", "404"), ("content-type", "text/plain")])
        )

    _, port = await scripted(script)
    client = await _client(_hub(pb2, port))
    try:
        assert await _fails(client, {"text": "x"}) == "grpcUnimplemented"
    finally:
        await client.close()


async def test_eof_mid_call_is_unavailable(pb2: Any, scripted: Callable[..., Any]) -> None:
    _, port = await scripted(None)
    client = await _client(_hub(pb2, port))
    assert await _fails(client, {"text": "x"}) == "grpcUnavailable"
    assert client.broken
    await client.close()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (struct.pack(">BL", 1, 2) + b"\x08\x01", "grpcInternal"),  # compressed, though none was offered
        (struct.pack(">BL", 0, 9) + b"\x08", "grpcInternal"),  # a message cut short by the stream's end
        (b"", "grpcInternal"),  # OK without the message a unary call returns
    ],
)
async def test_a_response_that_breaks_the_grpc_framing_fails(
    pb2: Any, scripted: Callable[..., Any], body: bytes, expected: str
) -> None:
    def script(stream: int, encoder: Encoder) -> bytes:
        head = frame(
            _HEADERS, 0x4, stream, encoder.encode([(":status", "200"), ("content-type", "application/grpc")])
        )
        data = frame(_DATA, 0, stream, body) if body else b""
        return head + data + _ok_trailers(stream, encoder)

    _, port = await scripted(script)
    client = await _client(_hub(pb2, port))
    try:
        assert await _fails(client, {"text": "x"}) == expected
    finally:
        await client.close()


# -- the callback driver's pieces ----------------------------------------------------------------------------
def _compiled_step(pb2: Any, request: dict[str, Any]) -> tuple[GrpcHub, Any]:
    from sk_loadagent.engine import build_profile
    from sk_loadagent.engine._flow import compile_flow
    from sk_loadagent.models.loading import validate_document
    from sk_loadagent.models.plan import TestSpec

    proto = str(pb2.proto_folder / "wiretest.proto")
    block = {"url": "grpc://127.0.0.1:1", "proto": proto, "service": "wiretest.Echo", "method": "Say"}
    document = {
        "type": "load",
        "surface": "grpc",
        "rps": 1,
        "duration": "1s",
        "grpc": {**block, "request": request},
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(pb2.proto_folder / "cache"))
        test = validate_document(document, TestSpec, "wire.plan.yaml", strict=True)
        profile = build_profile(test, base_url="http://127.0.0.1:9")
        assert profile.flow is not None
        assert profile.flow.surface is not None
        hub = GrpcHub(profile.flow.surface, 1.0, None)  # type: ignore[arg-type]
    return hub, compile_flow(profile.flow).steps[0]


def test_a_steps_request_wire_renders_each_iteration(pb2: Any) -> None:
    from sk_loadagent.engine._flow import IterationState

    hub, step = _compiled_step(pb2, {"text": "${uuid}", "count": 3, "tags": ["${iteration}"]})
    wire = hub.request_wire(step)
    first = pb2.Req.FromString(wire.render(IterationState(4, 0, ())))
    second = pb2.Req.FromString(wire.render(IterationState(5, 0, ())))
    assert len(first.text) == 36
    assert first.text != second.text
    assert (first.count, list(first.tags), list(second.tags)) == (3, ["4"], ["5"])
    hub, step = _compiled_step(pb2, {"text": "fixed", "count": 2})
    wire = hub.request_wire(step)
    assert wire.render(IterationState(0, 0, ())) is wire.render(IterationState(1, 0, ()))  # built once
    assert pb2.Req.FromString(wire.render(IterationState(0, 0, ()))) == pb2.Req(text="fixed", count=2)


async def test_a_fast_connection_answers_through_callbacks(pb2: Any, echo_server: int) -> None:
    hub = _hub(pb2, echo_server)
    ended: asyncio.Queue[Outcome | None] = asyncio.Queue()
    connection = hub.fast_connection(lambda: ended.put_nowait(None), ended.put_nowait)
    await connection.connect(hub.client_target())
    try:
        connection.send(pb2.Req(text="abc").SerializeToString(), 0)
        assert await asyncio.wait_for(ended.get(), 5.0) is None
        assert pb2.Resp.FromString(connection.body).length == 3
        assert (connection.status, connection.headers, connection.busy) == (None, {}, False)
        connection.send(pb2.Req(code=5).SerializeToString(), 0)
        assert await asyncio.wait_for(ended.get(), 5.0) == Outcome.GRPC_NOT_FOUND
    finally:
        connection.drop()


async def test_a_header_block_over_16_kib_goes_in_continuations(
    pb2: Any, scripted: Callable[..., Any]
) -> None:
    def script(stream: int, encoder: Encoder) -> bytes:
        head = frame(
            _HEADERS, 0x4, stream, encoder.encode([(":status", "200"), ("content-type", "application/grpc")])
        )
        return head + frame(_DATA, 0, stream, _message(pb2, 1)) + _ok_trailers(stream, encoder)

    state, port = await scripted(script)
    hub = _hub(pb2, port)
    hub.headers_frames = headers_frames(header_block([(":method", "POST"), ("x-big", "v" * 40_000)]))
    client = await _client(hub)
    try:
        for _ in range(2):
            await _call(client, {"text": "x"})
    finally:
        await client.close()
    assert [(k, f, s) for k, f, s in state.header_frames] == [
        (_HEADERS, 0, 1),
        (_CONT, 0, 1),
        (_CONT, 0x4, 1),
        (_HEADERS, 0, 3),
        (_CONT, 0, 3),
        (_CONT, 0x4, 3),
    ]
    for block in state.blocks:
        assert dict(Decoder().decode(block)) == {":method": "POST", "x-big": "v" * 40_000}
