"""The dashboard's Starlette app over one memory store: pages and their JSON (``/api/...``).

Endpoints are plain functions (Starlette runs them in its thread pool; the stores are synchronous and
thread-safe). The store is opened on first use and again after a failure, so a store created after the
dashboard started shows up on the next reload. Nothing a page shows comes from anywhere but this server.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sk_loadagent.errors import MemoryStoreError
from sk_loadagent.memory import (
    MemoryStore,
    MissingStoreError,
    NewerStoreError,
    SeriesKey,
    open_store,
    redact,
)
from sk_loadagent.publish.report import render_report
from sk_loadagent.publish.report.render import prepare_report
from sk_loadagent.publish.report.views import Report

from ._build import (
    GROUPS,
    Memo,
    empty_overview,
    key_of_token,
    overview,
    run_report,
    series_page,
    series_token,
)
from ._headers import FAVICON, SecurityHeaders
from ._render import prepare, render_message, render_overview, render_series
from ._views import Filters, Overview, SeriesPage

T = TypeVar("T")


class _Absent(Exception):
    """Nothing to show at this address: the message and the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class StoreAccess:
    """The store behind the dashboard, opened lazily; ``problem`` says why there is none to read."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.label = redact(url)
        self._store: MemoryStore | None = None
        self._lock = threading.Lock()
        self.memo = Memo()  # pieces derived from this store's runs; dropped with the store

    def open(self) -> MemoryStore:
        """The open store; MissingStoreError, NewerStoreError or MemoryStoreError when there is none."""
        with self._lock:
            if self._store is None:
                self._store = open_store(self.url, create=False)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = None
            self.memo = Memo()


def _problem(exc: MemoryStoreError, label: str) -> str:
    if isinstance(exc, MissingStoreError):
        return (
            f"No memory store at {label} yet: nothing has been stored. Runs appear here once "
            f"`sk-loadagent run --memory {label}` has stored some; reload then."
        )
    if isinstance(exc, NewerStoreError):
        return f"This store was written by a newer sk-loadagent, so this one cannot read it: {exc}"
    return f"The memory store cannot be read: {exc}"


def _filters(request: Request) -> Filters:
    params = request.query_params
    group = params.get("group") or "module"
    return Filters(
        edition=params.get("edition") or None,
        module=params.get("module") or None,
        test_type=params.get("testType") or None,
        group=group if group in GROUPS else "module",
    )


def create_app(url: str) -> Starlette:
    """The dashboard over the store at ``url`` (any URL ``run --memory`` takes)."""
    access = StoreAccess(url)
    prepare()
    prepare_report()

    def read_overview(request: Request) -> Overview:
        filters = _filters(request)
        try:
            store = access.open()
            return overview(store, filters, access.label, access.memo)
        except MemoryStoreError as exc:
            access.close()  # reopened on the next request: the store may be created or upgraded meanwhile
            return empty_overview(access.label, _problem(exc, access.label), filters)

    def home(request: Request) -> Response:
        return HTMLResponse(render_overview(read_overview(request), request.url.query))

    def api_overview(request: Request) -> Response:
        return JSONResponse(read_overview(request).model_dump(mode="json"))

    def _page(title: str, message: str, status: int) -> Response:
        return HTMLResponse(render_message(title, message, access.label), status_code=status)

    def _read(read: Callable[[MemoryStore], T | None], absent: str) -> T:
        """What ``read`` finds in the store, or _Absent (404) / the store's problem (503)."""
        try:
            found = read(access.open())
        except MemoryStoreError as exc:
            access.close()  # reopened on the next request
            status = 404 if isinstance(exc, MissingStoreError) else 503
            raise _Absent(_problem(exc, access.label), status) from None
        if found is None:
            raise _Absent(absent, 404)
        return found

    def _series(request: Request) -> SeriesPage:
        key = key_of_token(request.path_params["token"])
        if key is None:
            raise _Absent("That is not a series id of this dashboard.", 404)
        return _read(
            lambda store: series_page(store, key, access.label, access.memo),
            f"No stored run of the series {key}.",
        )

    def _report(request: Request) -> tuple[Report, SeriesKey]:
        run_id = request.path_params["run_id"]
        return _read(
            lambda store: run_report(store, run_id),
            f"No stored run {run_id} with readable perf-metrics.",
        )

    def series(request: Request) -> Response:
        try:
            return HTMLResponse(render_series(_series(request)))
        except _Absent as absent:
            return _page("Series not found", absent.message, absent.status)

    def api_series(request: Request) -> Response:
        try:
            return JSONResponse(_series(request).model_dump(mode="json"))
        except _Absent as absent:
            return JSONResponse({"error": absent.message}, status_code=absent.status)

    def run(request: Request) -> Response:
        try:
            report, key = _report(request)
        except _Absent as absent:
            return _page("Run not found", absent.message, absent.status)
        # report.html as `run` writes it, with a way back; its own policy (it loads nothing) is stricter.
        back = (f"/series/{series_token(key)}", "this series in the dashboard")
        return HTMLResponse(render_report(report, back=back))

    def api_run(request: Request) -> Response:
        try:
            report, _ = _report(request)
        except _Absent as absent:
            return JSONResponse({"error": absent.message}, status_code=absent.status)
        return JSONResponse(report.model_dump(mode="json"))

    def not_found(request: Request, exc: Exception) -> Response:
        return _page("Not found", f"Nothing at {request.url.path} on this dashboard.", 404)

    def favicon(request: Request) -> Response:
        return Response(FAVICON, media_type="image/svg+xml")

    routes = [
        Route("/", home),
        Route("/favicon.ico", favicon),
        Route("/api/overview", api_overview),
        Route("/series/{token}", series),
        Route("/api/series/{token}", api_series),
        Route("/runs/{run_id}", run),
        Route("/api/runs/{run_id}", api_run),
    ]

    def warm() -> None:
        """Read each series' latest run once before serving, so the first visitor need not wait for it."""
        try:
            overview(access.open(), Filters(), access.label, access.memo)
        except MemoryStoreError:
            access.close()  # the first request says what is wrong

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(warm)
        yield
        access.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={404: not_found},
    )
    app.state.store = access
    return app
