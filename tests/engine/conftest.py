"""A small local HTTP/1.1 server for the engine tests: raw asyncio + httptools in a thread, on 127.0.0.1:0.

Knobs: ``delay`` (seconds before answering), ``status``, ``freeze`` (no answers during [at, at + length) of
every ``period`` seconds of uptime, as in the peer benchmark), ``mode`` ("answer", "never" (accept, read,
never answer), "reset" (RST instead of an answer), "close" (close without an answer), "garbage" (not HTTP),
"drip" (the answer one byte every ``drip`` seconds)), ``capacity`` (at most N requests served at once, each
taking ``delay``; the rest queue: a known throughput limit of N / delay), ``keep_alive`` and ``body``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import httptools
import pytest


@dataclass
class ServerConfig:
    delay: float = 0.0
    status: int = 200
    mode: str = "answer"
    freeze: tuple[float, float, float] | None = None  # (period, at, length)
    capacity: int | None = None
    keep_alive: bool = True
    body: bytes = b"ok"
    drip: float = 0.01
    statuses: list[int] = field(default_factory=list)  # cycled per request when given


class _Http(asyncio.Protocol):
    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections += 1
        self.server.open.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.open.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_complete(self) -> None:
        self.server.arrived(self)


class LocalServer:
    """Runs in its own thread and event loop; ``arrivals`` are perf_counter times of requests received."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.arrivals: list[float] = []
        self.connections = 0
        self.port = 0
        self.started = time.perf_counter()
        self.started_wall = time.time()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._active = 0
        self._waiting: deque[_Http] = deque()
        self._count = 0
        self.open: set[_Http] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def kill(self) -> None:
        """Stop listening and drop every connection, as a crashed service would (from any thread)."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._kill)

    def _kill(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.abort()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = loop.run_until_complete(
            loop.create_server(lambda: _Http(self), "127.0.0.1", 0, backlog=4096)
        )
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        self.started = time.perf_counter()
        self.started_wall = time.time()
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

    # -- behaviour -----------------------------------------------------------------------------------------
    def arrived(self, conn: _Http) -> None:
        now = time.perf_counter()
        self.arrivals.append(now)
        cfg = self.config
        assert self._loop is not None
        assert conn.transport is not None
        if cfg.mode == "never":
            return
        if cfg.mode == "reset":
            sock = conn.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.transport.abort()
            return
        if cfg.mode == "close":
            conn.transport.close()
            return
        if cfg.mode == "garbage":
            conn.transport.write(b"this is not http\r\n\r\n")
            return
        if cfg.capacity is not None:
            self._waiting.append(conn)
            self._serve_next()
            return
        self._loop.call_at(self._loop.time() + self._due(now) - now, self._respond, conn)

    def _serve_next(self) -> None:
        assert self._loop is not None
        while self._waiting and self._active < (self.config.capacity or 0):
            conn = self._waiting.popleft()
            self._active += 1
            self._loop.call_later(self.config.delay, self._finish_capacity, conn)

    def _finish_capacity(self, conn: _Http) -> None:
        self._active -= 1
        self._respond(conn)
        self._serve_next()

    def _due(self, now: float) -> float:
        return self.started + self.due_after_start(now - self.started)

    def due_after_start(self, arrival: float) -> float:
        """When an answer to a request arriving ``arrival`` s after the start is due: after ``delay``, and
        never inside a freeze (then at its end)."""
        cfg = self.config
        due = arrival + cfg.delay
        if cfg.freeze is None:
            return due
        period, at, length = cfg.freeze
        k, phase = divmod(due, period)
        if at <= phase < at + length:
            return k * period + at + length
        return due

    def _response(self) -> bytes:
        cfg = self.config
        status = cfg.statuses[self._count % len(cfg.statuses)] if cfg.statuses else cfg.status
        self._count += 1
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(cfg.body)}\r\n"
        if not cfg.keep_alive:
            head += "Connection: close\r\n"
        return head.encode() + b"\r\n" + cfg.body

    def _respond(self, conn: _Http) -> None:
        transport = conn.transport
        if transport is None or transport.is_closing():
            return
        data = self._response()
        if self.config.mode == "drip":
            self._drip(conn, data)
            return
        transport.write(data)
        if not self.config.keep_alive:
            transport.close()

    def _drip(self, conn: _Http, data: bytes) -> None:
        assert self._loop is not None
        assert conn.transport is not None
        if conn.transport.is_closing() or not data:
            return
        conn.transport.write(data[:1])
        self._loop.call_later(self.config.drip, self._drip, conn, data[1:])


@pytest.fixture
def serve() -> Iterator[object]:
    """``serve(**ServerConfig fields)`` starts a server for the test and stops it afterwards."""
    servers: list[LocalServer] = []

    def start(**knobs: object) -> LocalServer:
        server = LocalServer(ServerConfig(**knobs)).start()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL whose port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
