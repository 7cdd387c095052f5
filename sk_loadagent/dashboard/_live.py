"""The live view of a running suite (``run --dashboard``), like k6's web dashboard: a page that receives
server-sent events once a second with each test's rate, p95, errors, requests in flight and progress.

It is fed by the callback the terminal progress already gets (``engine.Progress`` per progress interval,
merged over the workers), so the run's hot path pays nothing more: the feed keeps the latest snapshot of
each test (one dict assignment) and the event stream reads it once a second. The server stops with the run;
an open page gets a last ``end`` event with the final figures and closes its stream.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sk_loadagent.engine import Progress

from ._headers import FAVICON, SecurityHeaders
from ._render import live_script, render_live

EVENT_INTERVAL_S = 1.0
STOP_GRACE_S = 2.0  # how long a stopping run waits for open pages to receive the end event


class LiveFeed:
    """The latest progress of each test, in the order the tests started."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._latest: dict[str, Progress] = {}
        self._updates = 0
        self._started = time.monotonic()
        self.finished = False
        self.outcome: str | None = None
        self.streams = 0

    def __call__(self, label: str, progress: Progress) -> None:
        self._latest[label] = progress
        self._updates += 1

    def finish(self, outcome: str | None = None) -> None:
        self.outcome = outcome
        self.finished = True

    def snapshot(self) -> dict[str, Any]:
        tests = []
        for label, p in list(self._latest.items()):
            total = p.elapsed + p.remaining
            tests.append(
                {
                    "test": label,
                    "phase": p.phase,
                    "elapsed": round(p.elapsed, 2),
                    "remaining": round(max(0.0, p.remaining), 2),
                    "progress": round(p.elapsed / total, 4) if total > 0 else 1.0,
                    "rps": round(p.rps, 2),
                    "p95Ms": None if p.p95_ms is None else round(p.p95_ms, 3),
                    "errors": p.errors,
                    "requests": p.requests,
                    "inFlight": p.in_flight,
                    "lateStarts": p.late_starts,
                }
            )
        return {
            "title": self.title,
            "seconds": round(time.monotonic() - self._started, 1),
            "updates": self._updates,
            "finished": self.finished,
            "outcome": self.outcome,
            "tests": tests,
        }


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _events(feed: LiveFeed) -> AsyncIterator[str]:
    """A snapshot every second until the run ends, then the final one as ``end``."""
    feed.streams += 1
    try:
        yield "retry: 2000\n\n"
        while not feed.finished:
            yield _event("progress", feed.snapshot())
            waited = 0.0
            while waited < EVENT_INTERVAL_S and not feed.finished:
                await asyncio.sleep(0.1)
                waited += 0.1
        yield _event("end", feed.snapshot())
    finally:
        feed.streams -= 1


def live_app(feed: LiveFeed) -> Starlette:
    def page(request: Request) -> Response:
        return HTMLResponse(render_live(feed.title))

    def script(request: Request) -> Response:
        return Response(live_script(), media_type="text/javascript")

    def snapshot(request: Request) -> Response:
        return JSONResponse(feed.snapshot())

    async def events(request: Request) -> Response:
        return StreamingResponse(_events(feed), media_type="text/event-stream")

    def favicon(request: Request) -> Response:
        return Response(FAVICON, media_type="image/svg+xml")

    routes = [
        Route("/", page),
        Route("/favicon.ico", favicon),
        Route("/live.js", script),
        Route("/api/live", snapshot),
        Route("/events", events),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


class LiveServer:
    """The live view's server for the length of a run: ``start`` before the load, ``stop`` after it."""

    def __init__(self, feed: LiveFeed, sock: socket.socket) -> None:
        from ._serve import server, url_of

        self.feed = feed
        self.url = url_of(sock)
        self._sock = sock
        self._server = server(live_app(feed), own_signals=False)
        self._server.config.timeout_graceful_shutdown = int(STOP_GRACE_S)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        deadline = time.monotonic() + 10
        while not self._server.started and not self._task.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self._task.done():
            await self._task  # raises what stopped it

    async def stop(self, outcome: str | None = None) -> None:
        """Send the end event to open pages (waiting at most ``STOP_GRACE_S``), then stop serving."""
        self.feed.finish(outcome)
        deadline = time.monotonic() + STOP_GRACE_S
        while self.feed.streams and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self._server.should_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=STOP_GRACE_S + 3)
            except TimeoutError:
                self._task.cancel()
        self._sock.close()
