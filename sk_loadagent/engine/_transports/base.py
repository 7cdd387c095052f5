"""The interface between the schedulers and the HTTP clients.

A transport opens *connections*; a connection carries one request at a time (HTTP/1.1 keep-alive, or a slot
of an HTTP/2 / httpx pool). The scheduler that owns a connection is told when it is ready, idle again, or
gone. The connection itself records every request it finishes into the run's Recorder, with the exact
times, so every transport measures the same way.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from sk_loadagent.engine._recorder import Recorder
from sk_loadagent.engine._requests import RequestTemplate, Target
from sk_loadagent.engine._tls import failure_reason, tls_cause
from sk_loadagent.engine._trace import TraceContext
from sk_loadagent.engine.result import Outcome
from sk_loadagent.models.plan import TlsOptions


class Owner(Protocol):
    """The scheduler a connection reports to."""

    def on_connected(self, conn: Connection) -> None:
        """The connection is open and may send."""

    def on_connect_failed(self, conn: Connection, outcome: Outcome, at: float) -> None:
        """The connection could not be opened (``at``: when that was known)."""

    def on_idle(self, conn: Connection) -> None:
        """The connection finished a request (already recorded) and may send again."""

    def on_closed(self, conn: Connection) -> None:
        """The connection is gone; a request it carried was recorded as failed."""


class Connection:
    """State every transport's connection keeps; the schedulers read these attributes directly."""

    __slots__ = (
        "busy",
        "closed",
        "connecting",
        "intended",
        "nbytes",
        "owner",
        "sent_at",
        "started",
        "tag",
        "variant",
    )

    def __init__(self, owner: Owner, started: float) -> None:
        self.owner = owner
        self.started = started  # when connecting began
        self.connecting = True
        self.busy = False
        self.closed = False
        self.intended = 0.0
        self.sent_at = 0.0
        self.variant = 0
        self.nbytes = 0
        self.tag = 0  # the owner's slot number (a VU index)

    def send(self, intended: float, variant: int) -> None:
        """Send a request intended at ``intended`` (absolute perf_counter time)."""
        raise NotImplementedError

    def send_now(self, variant: int) -> None:
        """Send a request timed from this very moment (closed model)."""
        raise NotImplementedError

    def abort(self, outcome: Outcome) -> None:
        """End the request in flight (recorded with ``outcome``) or the connect attempt, and close."""
        raise NotImplementedError

    def close(self) -> None:
        """Close an idle connection."""
        raise NotImplementedError


@dataclass(frozen=True)
class Binding:
    """What a transport needs to know about the run it serves."""

    loop: asyncio.AbstractEventLoop
    target: Target
    templates: list[RequestTemplate]
    recorder: Recorder
    timeout: float
    max_connections: int
    http2: bool = False
    tls: TlsOptions | None = None  # for an https:// target
    proxy: str | None = None
    trace: TraceContext | None = None  # the templates carry its headers; the transport samples


class Transport:
    """Base of every transport. Construct it cheaply (it may be pickled to a worker), then ``bind`` it."""

    name = "base"

    def __init__(self) -> None:
        self.opened = 0  # connections opened during the run
        self.tls_failures: Counter[str] = Counter()  # failed TLS handshakes (and alerts) by reason
        # Sampled requests: (trace and span ids as hex, intended start, end), absolute perf_counter times;
        # end NaN when the transport leaves it to be found among the recorder's samples (fast: its start).
        self.traced: list[tuple[bytes, float, float]] = []

    @property
    def tls_resumed(self) -> int:
        """Connections whose TLS handshake resumed an earlier session (0 where that is not known)."""
        return 0

    def tls_failed(self, exc: BaseException | None) -> Outcome:
        """Count a TLS failure under its reason; its requests end as ``Outcome.TLS``."""
        self.tls_failures[failure_reason(tls_cause(exc)) if exc is not None else "handshake failed"] += 1
        return Outcome.TLS

    def bind(self, binding: Binding) -> None:
        """Prepare for a run (called in the process that sends)."""
        raise NotImplementedError

    def connect(self, owner: Owner) -> Connection:
        """Start opening a connection; the owner hears ``on_connected`` or ``on_connect_failed``."""
        raise NotImplementedError

    def request_bytes(self) -> list[int]:
        """Bytes sent per request, by template (for ``Samples.bytes_out``)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what ``bind`` acquired."""
