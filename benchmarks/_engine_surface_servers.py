"""The surface benches' own servers on 127.0.0.1, run as a child process: ``python _engine_surface_servers.py
KIND --state FILE``; each writes ``PORT T0`` to ``--state`` once it listens (as ``_engine_servers.py`` does)
and stops on SIGTERM or SIGINT.

``websocket`` a WebSocket echo server written for speed (uvloop, the handshake and frames by hand, no
              library between the socket and the echo): every text or binary frame comes back as it came,
              unmasked; a ping gets its pong and a close its close.
``grpc``      the sample's ``vetclinic.AppointmentService`` (``samples/service/appointments.proto``) on a
              grpcio asyncio server whose ``Book`` answers at once with the pet it was asked for.
``grpc-fast`` the same ``Book`` on HTTP/2 written for speed (uvloop, frames by hand, header blocks not
              decoded): every call is answered at once with a fixed appointment for the pet it names;
              SETTINGS and PING are acknowledged and the windows given back, so grpc-go (k6) and the engine
              talk to it as to grpcio.
``silent``    accepts every connection and never sends a byte (a broker or peer that hangs).
``proxy``     forwards every connection to ``--upstream HOST:PORT``; on SIGUSR1 it resets every connection and
              closes its listening socket, so new ones are refused (a broker or peer that goes away mid-run),
              and prints ``CLOSED <epoch seconds>``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

PROTO = Path(__file__).resolve().parents[1] / "samples" / "service" / "appointments.proto"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_KEY = re.compile(rb"(?im)^sec-websocket-key:[ \t]*([^\r\n]+?)[ \t]*\r?$")
_CLOSE, _PING, _PONG = 0x8, 0x9, 0xA


# -- websocket ---------------------------------------------------------------------------------------------
def _frame_header(first: int, size: int) -> bytes:
    """A server frame's header (never masked): ``first`` is FIN, RSV and the opcode."""
    if size < 126:
        return bytes((first, size))
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big")
    return bytes((first, 127)) + size.to_bytes(8, "big")


def _unmask(mask: bytes, payload: bytes) -> bytes:
    """The client's payload XORed with its 4-byte key, as one big-integer operation (no per-byte loop)."""
    size = len(payload)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


class _WebSocketEcho(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open and not self._handshake():
            return
        self._echo()

    def _handshake(self) -> bool:
        assert self.transport is not None
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        found = _KEY.search(bytes(self.buffer[:end]))
        del self.buffer[: end + 4]
        if found is None:
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            self.transport.close()
            return False
        accept = base64.b64encode(hashlib.sha1(found.group(1) + _GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.open = True
        return True

    def _echo(self) -> None:
        assert self.transport is not None
        buffer, out = self.buffer, []
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            size, at = second & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    break
                size, at = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    break
                size, at = int.from_bytes(buffer[2:10], "big"), 10
            masked = 4 if second & 0x80 else 0
            if len(buffer) < at + masked + size:
                break
            payload = bytes(buffer[at + masked : at + masked + size])
            if masked:
                payload = _unmask(bytes(buffer[at : at + 4]), payload)
            del buffer[: at + masked + size]
            opcode = first & 0x0F
            if opcode == _CLOSE:
                self.transport.write(b"".join(out) + _frame_header(0x80 | _CLOSE, len(payload)) + payload)
                self.transport.close()
                return
            if opcode == _PING:
                first = 0x80 | _PONG
            elif opcode == _PONG:
                continue
            out.append(_frame_header(first, size) + payload)
        if out:
            self.transport.write(b"".join(out))


async def _websocket(port: int) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(_WebSocketEcho, "127.0.0.1", port, backlog=4096)


# -- grpc --------------------------------------------------------------------------------------------------
async def _grpc(port: int) -> Any:
    import grpc

    sys.path.insert(0, str(PROTO.parent))  # grpc.protos_and_services finds the proto on sys.path
    protos, services = grpc.protos_and_services(PROTO.name)

    class Appointments(services.AppointmentServiceServicer):  # type: ignore[name-defined,misc]
        async def Book(self, request: Any, context: Any) -> Any:
            return protos.Appointment(id="apt-1", pet_id=request.pet_id, status="booked", release="bench")

    server = grpc.aio.server()
    services.add_AppointmentServiceServicer_to_server(Appointments(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return _GrpcListening(server, bound)


# -- grpc-fast ---------------------------------------------------------------------------------------------
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_H2_DATA, _H2_HEADERS, _H2_SETTINGS, _H2_PING, _H2_GOAWAY, _H2_WINDOW_UPDATE = 0x0, 0x1, 0x4, 0x6, 0x7, 0x8
_H2_END_STREAM, _H2_ACK, _H2_END_HEADERS, _H2_PADDED = 0x1, 0x1, 0x4, 0x8
# The response's header blocks, without HPACK's dynamic table (so any client decodes them): ":status: 200"
# (static entry 8), "content-type: application/grpc" (static name 31, literal value), and the trailers'
# "grpc-status: 0" (a literal name and value).
_RESPONSE_HEADERS = b"\x88" + b"\x0f\x10" + bytes((16,)) + b"application/grpc"
_TRAILERS = b"\x00" + bytes((11,)) + b"grpc-status" + bytes((1,)) + b"0"


def _h2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big") + payload


def _appointment(pet_id: bytes) -> bytes:
    """``Appointment(id="apt-1", pet_id=..., status="booked", release="bench")`` serialized by hand."""
    return b"\x0a\x05apt-1\x12" + bytes((len(pet_id),)) + pet_id + b"\x1a\x06booked\x22\x05bench"


def _pet_id(message: bytes) -> bytes:
    """A BookRequest's ``pet_id`` (field 1), when it comes first with a short length (as both tools send)."""
    if len(message) >= 2 and message[0] == 0x0A and message[1] < 0x80:
        return message[2 : 2 + message[1]]
    return b""


class _GrpcFast(asyncio.Protocol):
    """HTTP/2 by hand for one unary method: every call (HEADERS, then DATA with END_STREAM) gets its
    response at once. The request's header block is not decoded (one method is served, whatever the path);
    the server's SETTINGS, SETTINGS and PING acknowledgements and the connection window are kept, so grpc-go
    (k6) and the engine both talk to it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.preface = False
        self.bodies: dict[int, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(_h2_frame(_H2_SETTINGS, 0, 0, b""))

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        data = self.buffer + data if self.buffer else data
        at = 0
        if not self.preface:
            if len(data) < len(_H2_PREFACE):
                self.buffer = data
                return
            self.preface, at = True, len(_H2_PREFACE)
        out: list[bytes] = []
        taken = 0
        size = len(data)
        while size - at >= 9:
            length = int.from_bytes(data[at : at + 3], "big")
            if size - at < 9 + length:
                break
            kind, flags = data[at + 3], data[at + 4]
            stream = int.from_bytes(data[at + 5 : at + 9], "big") & 0x7FFFFFFF
            payload = data[at + 9 : at + 9 + length]
            at += 9 + length
            if kind == _H2_DATA:
                taken += length
                if flags & _H2_PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                self.bodies[stream] = self.bodies.get(stream, b"") + payload
                if flags & _H2_END_STREAM:
                    out.append(self._answer(stream))
                elif length:  # a request longer than a frame: its stream's window given back too
                    out.append(_h2_frame(_H2_WINDOW_UPDATE, 0, stream, length.to_bytes(4, "big")))
            elif kind == _H2_HEADERS:
                if flags & _H2_END_STREAM:
                    out.append(self._answer(stream))
            elif kind == _H2_SETTINGS and not flags & _H2_ACK:
                out.append(_h2_frame(_H2_SETTINGS, _H2_ACK, 0, b""))
            elif kind == _H2_PING and not flags & _H2_ACK:
                out.append(_h2_frame(_H2_PING, _H2_ACK, 0, payload))
            elif kind == _H2_GOAWAY:
                self.transport.close()
                return
        self.buffer = data[at:]
        if taken:  # what the calls' DATA took of the connection's window, given back
            out.append(_h2_frame(_H2_WINDOW_UPDATE, 0, 0, taken.to_bytes(4, "big")))
        if out:
            self.transport.write(b"".join(out))

    def _answer(self, stream: int) -> bytes:
        body = self.bodies.pop(stream, b"")
        message = _appointment(_pet_id(body[5:]))
        return (
            _h2_frame(_H2_HEADERS, _H2_END_HEADERS, stream, _RESPONSE_HEADERS)
            + _h2_frame(_H2_DATA, 0, stream, b"\x00" + len(message).to_bytes(4, "big") + message)
            + _h2_frame(_H2_HEADERS, _H2_END_HEADERS | _H2_END_STREAM, stream, _TRAILERS)
        )


async def _grpc_fast(port: int) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(_GrpcFast, "127.0.0.1", port, backlog=4096)


class _GrpcListening:
    """A grpc.aio server seen as an asyncio server: its port, and ``close`` / ``wait_closed``."""

    def __init__(self, server: Any, port: int) -> None:
        self.server = server
        self.port = port

    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        await self.server.stop(grace=1.0)


# -- silent ------------------------------------------------------------------------------------------------
async def _silent(port: int) -> asyncio.AbstractServer:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(65536):
                pass
        finally:
            writer.close()

    return await asyncio.start_server(never_answer, "127.0.0.1", port)


# -- proxy -------------------------------------------------------------------------------------------------
class _Proxy:
    """Forwards connections to the upstream until ``close_everything``, which resets them all and stops
    listening."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.host, self.port = host, int(port)
        self.writers: set[asyncio.StreamWriter] = set()
        self.listener: asyncio.AbstractServer | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()
            self.writers.discard(writer)

    def close_everything(self) -> None:
        if self.listener is not None:
            self.listener.close()
        for writer in list(self.writers):
            writer.transport.abort()  # a reset, as when a broker's process dies
        self.writers.clear()
        print(f"CLOSED {time.time():.3f}", flush=True)


async def _proxy(port: int, upstream: str) -> asyncio.AbstractServer:
    proxy = _Proxy(upstream)
    proxy.listener = await asyncio.start_server(proxy.handle, "127.0.0.1", port)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, proxy.close_everything)
    return proxy.listener


# -- main --------------------------------------------------------------------------------------------------
async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    starters: dict[str, Callable[[], Awaitable[Any]]] = {
        "websocket": lambda: _websocket(args.port),
        "grpc": lambda: _grpc(args.port),
        "grpc-fast": lambda: _grpc_fast(args.port),
        "silent": lambda: _silent(args.port),
        "proxy": lambda: _proxy(args.port, args.upstream),
    }
    listening = await starters[args.kind]()
    bound = listening.port if isinstance(listening, _GrpcListening) else listening.sockets[0].getsockname()[1]
    with open(args.state + ".tmp", "w") as out:
        out.write(f"{bound} {t0!r}\n")
    os.replace(args.state + ".tmp", args.state)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    await stop
    listening.close()
    await listening.wait_closed()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("websocket", "grpc", "grpc-fast", "silent", "proxy"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state", required=True)
    parser.add_argument("--upstream", help="proxy: HOST:PORT to forward to")
    args = parser.parse_args(argv)
    if args.kind == "proxy" and not args.upstream:
        parser.error("proxy needs --upstream HOST:PORT")
    if args.kind == "grpc":
        asyncio.run(serve(args))  # grpc.aio runs on the stdlib loop
    else:
        import uvloop

        uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
