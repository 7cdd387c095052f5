"""The OTLP/HTTP receiver a run listens with: POST /v1/traces, protobuf or JSON, on loopback only.

It runs in the coordinating process on a thread of its own (``ThreadingHTTPServer``), never in a load
worker, so decoding spans takes no CPU from the generator's event loops. A malformed payload is answered 400,
counted and ignored. Spans are kept by trace id (bounded: ``max_spans``) until the run joins them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sk_loadagent.measurements import SpanRecord
from sk_loadagent.observability._otlp import PayloadError, decode, response_bytes

MAX_BODY = 16 * 1024 * 1024
MAX_SPANS = 2_000_000


class SpanStore:
    """Spans by trace id, from any number of threads."""

    def __init__(self, max_spans: int = MAX_SPANS) -> None:
        self.max_spans = max_spans
        self.spans = 0
        self.malformed = 0
        self.dropped = 0  # spans over max_spans
        self.received_at = 0.0  # time.monotonic() of the last payload with spans
        self._by_trace: dict[str, list[SpanRecord]] = defaultdict(list)
        self._lock = threading.Lock()

    def add(self, records: list[SpanRecord], at: float) -> None:
        with self._lock:
            room = max(0, self.max_spans - self.spans)
            for record in records[:room]:
                self._by_trace[record.trace_id].append(record)
            self.spans += min(room, len(records))
            self.dropped += max(0, len(records) - room)
            if records:
                self.received_at = at

    def bad_payload(self) -> None:
        with self._lock:
            self.malformed += 1

    def traces(self, trace_ids: set[str]) -> dict[str, list[SpanRecord]]:
        """The spans of the given traces (those that have any)."""
        with self._lock:
            return {t: list(self._by_trace[t]) for t in trace_ids if t in self._by_trace}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/traces":
            self._answer(404, b"", "text/plain")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self.server.store.bad_payload()
            self._answer(400 if length == 0 else 413, b"", "text/plain")
            return
        body = self.rfile.read(length)
        content_type = (self.headers.get("Content-Type") or "application/x-protobuf").lower()
        try:
            records = decode(body, content_type, self.headers.get("Content-Encoding"))
        except PayloadError:
            self.server.store.bad_payload()
            self._answer(400, b"", "text/plain")
            return
        self.server.store.add(records, time.monotonic())
        if "json" in content_type:
            self._answer(200, b"{}", "application/json")
        else:
            self._answer(200, response_bytes(), "application/x-protobuf")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # One export per connection: a kept-alive connection would outlive stop() on its handler thread and
        # feed a later run's exports into this run's store.
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request log line per export would flood the run's output


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: SpanStore) -> None:
        self.store = store
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class SpanReceiver:
    """Listens for OTLP/HTTP on ``host:port`` (port 0: a free one) until ``stop``."""

    def __init__(self, host: str, port: int, store: SpanStore | None = None) -> None:
        self.store = store if store is not None else SpanStore()
        self._server = _Server((host, port), self.store)
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)

    @property
    def url(self) -> str:
        address = self._server.server_address
        host, port = str(address[0]), int(address[1])
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def start(self) -> SpanReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
