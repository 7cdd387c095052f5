"""A small service for the webhook and job surfaces' tests, on an ephemeral loopback port (a thread).

``POST /notify {"callback": URL}`` answers 202 and delivers ``{"delivered": true}`` to the callback after
``delay`` seconds (twice when ``retries`` is on: a sender that retries); ``POST /reports`` answers 202 with
``{"id": N}`` and ``GET /reports/N`` says ``running`` until ``delay`` seconds have passed, then ``done`` (or
``failed`` for a submit whose body holds ``fail``); with ``booked`` set, ``POST /book`` answers
``{"appointmentId": ...}`` and announces it on NATS after ``delay`` seconds.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SurfaceService(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, delay: float, retries: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.retries = retries
        self.booked: tuple[str, str] | None = None  # (NATS URL, subject) that POST /book announces on
        self.jobs: dict[int, tuple[float, bool]] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _deliver(url: str, delay: float, times: int) -> None:
    time.sleep(delay)
    for _ in range(times):
        request = urllib.request.Request(url, data=b'{"delivered": true}', method="POST")
        request.add_header("Content-Type", "application/json")
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=5):
            pass


class _Handler(BaseHTTPRequestHandler):
    server: SurfaceService
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, document: object) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/notify":
            callback = json.loads(body)["callback"]
            times = 2 if self.server.retries else 1
            threading.Thread(target=_deliver, args=(callback, self.server.delay, times), daemon=True).start()
            self._answer(202, {"accepted": True})
        elif self.path == "/book" and self.server.booked is not None:
            with self.server.lock:
                number = len(self.server.jobs) + 1
                self.server.jobs[number] = (time.monotonic(), False)
            url, subject = self.server.booked
            event = json.dumps({"event": "appointment.booked", "appointmentId": f"apt-{number}"}).encode()
            threading.Timer(self.server.delay, publish_nats, (url, subject, event)).start()
            self._answer(200, {"appointmentId": f"apt-{number}"})
        elif self.path == "/reports":
            with self.server.lock:
                number = len(self.server.jobs) + 1
                self.server.jobs[number] = (time.monotonic(), b"fail" in body)
            self._answer(202, {"id": number})
        else:
            self._answer(404, {})

    def do_GET(self) -> None:
        number = int(self.path.rpartition("/")[2]) if self.path.startswith("/reports/") else 0
        job = self.server.jobs.get(number)
        if job is None:
            self._answer(404, {})
            return
        began, fails = job
        if time.monotonic() - began < self.server.delay:
            self._answer(200, {"status": "running"})
        else:
            self._answer(200, {"status": "failed" if fails else "done"})


@contextlib.contextmanager
def surface_service(delay: float = 0.02, retries: bool = False) -> Iterator[SurfaceService]:
    server = SurfaceService(delay, retries)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def publish_nats(url: str, subject: str, payload: bytes) -> None:
    """One message on core NATS over a plain socket (the protocol is text: CONNECT, PUB, PING)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=5) as conn:
        conn.recv(4096)  # INFO
        conn.sendall(
            b"CONNECT {}\r\nPUB " + subject.encode() + b" %d\r\n" % len(payload) + payload + b"\r\nPING\r\n"
        )
        conn.recv(4096)  # PONG: the server has the message
