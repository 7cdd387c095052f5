"""A small journey service for the flow tests: log in for a token, add to a cart, submit; raw asyncio +
httptools in a thread on 127.0.0.1:0.

Routes: ``POST /auth/login`` with ``{"user", "password"}`` answers ``{"token": "tok-<user>"}`` (401 for a
wrong password: it must be ``pw-<user>``); ``POST /cart/items`` with ``Authorization: Bearer tok-...`` and
``{"sku"}`` answers 201 ``{"items": [{"sku": ...}]}``; ``POST /checkout/submit`` answers 200 ``{"status":
"accepted"}``; both 401 without a valid token. ``GET /echo`` answers the request's headers as JSON.
``delays`` holds seconds per path before answering; ``closing`` holds paths answered with ``Connection:
close`` (the server then closes the connection); ``dropping`` holds paths whose requests are never answered,
their connection closed instead; ``seen`` records (path, headers) of each request.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httptools

# The journey as a flow writes it: log in (the token extracted), add an item, submit.
LOGIN = {
    "name": "login",
    "request": {
        "method": "POST",
        "path": "/auth/login",
        "json": {"user": "${data.user}", "password": "${data.password}"},
    },
    "extract": {"token": "$.token"},
    "check": {"status": 200},
}
ADD = {
    "name": "add-item",
    "request": {
        "method": "POST",
        "path": "/cart/items",
        "headers": {"Authorization": "Bearer ${token}"},
        "json": {"sku": "A1"},
    },
    "check": {"status": 201, "$.items[0].sku": "A1"},
}
SUBMIT = {
    "name": "submit",
    "request": {
        "method": "POST",
        "path": "/checkout/submit",
        "headers": {"Authorization": "Bearer ${token}"},
    },
    "check": {"status": 200, "$.status": "accepted"},
}


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class JourneyServer:
    delays: dict[str, float] = field(default_factory=dict)
    closing: set[str] = field(default_factory=set)
    dropping: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        token = headers.get("authorization", "")
        authorised = token.startswith("Bearer tok-")
        payload: dict[str, Any] = {}
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                return 400, {"error": "not json"}
        if path == "/auth/login":
            user = str(payload.get("user", ""))
            if not user or payload.get("password") != f"pw-{user}":
                return 401, {"error": "bad credentials"}
            return 200, {"token": f"tok-{user}", "user": user}
        if path == "/cart/items":
            if not authorised:
                return 401, {"error": "no token"}
            return 201, {"items": [{"sku": payload.get("sku"), "quantity": 1}], "owner": token[11:]}
        if path == "/checkout/submit":
            if not authorised:
                return 401, {"error": "no token"}
            return 200, {"status": "accepted", "owner": token[11:]}
        if path.startswith("/echo"):
            return 200, {"path": path, "headers": headers}
        return 404, {"error": f"no route {path}"}


class _Http(asyncio.Protocol):
    def __init__(self, server: JourneyServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", {}, b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        path = self.url.decode()
        server = self.server
        server.seen.append(Seen(path, dict(self.headers), self.body, time.perf_counter()))
        route = path.split("?")[0]
        if route in server.dropping:
            if self.transport is not None:
                self.transport.close()
            return
        status, payload = server.answer(route, self.headers, self.body)
        data = json.dumps(payload).encode()
        close = route in server.closing
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            + ("Connection: close\r\n" if close else "")
            + "\r\n"
        )
        delay = server.delays.get(route, 0.0)
        assert server._loop is not None
        server._loop.call_later(delay, self._send, head.encode() + data, close)

    def _send(self, data: bytes, close: bool) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            if close:
                self.transport.close()


def _serve(server: JourneyServer, ready: threading.Event, stop: threading.Event) -> None:
    loop = asyncio.new_event_loop()
    server._loop = loop
    listener = loop.run_until_complete(loop.create_server(lambda: _Http(server), "127.0.0.1", 0))
    server.port = listener.sockets[0].getsockname()[1]
    ready.set()

    async def wait() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.02)

    loop.run_until_complete(wait())
    listener.close()
    loop.run_until_complete(listener.wait_closed())
    loop.close()


@contextmanager
def running_journey() -> Iterator[JourneyServer]:
    """A journey server for the duration of the block."""
    server = JourneyServer()
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=_serve, args=(server, ready, stop), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield server
    finally:
        stop.set()
        thread.join(10)


def write_users(path: Path, count: int = 50) -> Path:
    """A users CSV like samples/vetclinic/users.csv: user u<i> with the password pw-u<i>."""
    path.write_text("user,password\n" + "".join(f"u{i},pw-u{i}\n" for i in range(count)), encoding="utf-8")
    return path
