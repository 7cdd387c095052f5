"""The client interface: ``Client``, what it is given (``ClientTarget``, ``Call``) and what it returns."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from sk_loadagent.engine.result import OUTCOME_NAMES, Outcome

_BY_NAME = {name: Outcome(code) for code, name in OUTCOME_NAMES.items()}


@dataclass(frozen=True)
class ClientTarget:
    """Where a client connects: the test's base URL (scheme, host, port) and its per-call timeout."""

    base_url: str
    scheme: str
    host: str
    port: int
    timeout: float


@dataclass(slots=True)
class Call:
    """One step of one iteration, its references resolved.

    ``params`` is a surface step's ``params``; ``method``, ``path``, ``headers`` and ``body`` an HTTP step's
    request. ``want_body`` and ``want_headers`` say whether the step's checks or extractions read the reply's
    body or headers (a client may skip keeping them otherwise).
    """

    step: str
    iteration: int
    vu: int
    params: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    path: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    want_body: bool = True
    want_headers: bool = True


@dataclass(slots=True)
class Reply:
    """What a call returned.

    ``status`` is the protocol's status (an HTTP code: 2xx/3xx pass unless the step checks for others); None
    for a protocol without one (the call passes unless a check fails). ``headers`` have lower-case names.
    ``received`` is when the reply arrived (``time.perf_counter()``), for a client that knows it better than
    the moment its call returns (a message handed over by a callback); None: the call's return.
    """

    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0
    received: float | None = None


class ClientError(Exception):
    """Raise from ``Client.call`` to fail the call with an error class, e.g. ``ClientError("timeout")``.

    The class is one of the engine's (timeout, reset, connectRefused, connectError, protocolError, tls,
    http4xx, http5xx); any other text counts as ``clientError`` with the message in the run's warnings.
    """

    def __init__(self, error_class: str, message: str = "") -> None:
        super().__init__(message or error_class)
        self.error_class = error_class


class Client:
    """Base of every client: one connection (or session), one call at a time, closed at the end.

    The engine creates clients with no arguments, ``connect``s each before its first call and keeps it while
    calls succeed: in an open-model test a pool of them serves the steps as they come due, in a closed-model
    test each virtual user has its own. A client whose call raised is closed and replaced.
    """

    async def connect(self, target: ClientTarget) -> None:
        """Open the connection or session (default: nothing to open)."""

    def call(self, call: Call) -> Awaitable[Reply]:
        """Do one step (an ``async def`` is the usual way to write it)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the connection (default: nothing to release)."""


def outcome_of(exc: BaseException) -> tuple[Outcome, str | None]:
    """The error class of a failed call, and the message to report when it is the client's own error."""
    if isinstance(exc, ClientError):
        known = _BY_NAME.get(exc.error_class)
        if known is not None and known != Outcome.OK:
            return known, None
        return Outcome.CLIENT_ERROR, f"{exc.error_class}: {exc}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return Outcome.TIMEOUT, None
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return Outcome.TLS, None
    if isinstance(exc, ConnectionRefusedError):
        return Outcome.CONNECT_REFUSED, None
    if isinstance(exc, ConnectionError):
        return Outcome.RESET, None
    text = str(exc).splitlines()[0] if str(exc) else ""
    return Outcome.CLIENT_ERROR, f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_client(path: str) -> type[Client]:
    """The client class of ``surface: package.module:ClassName``; raises ValueError saying what is wrong."""
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"no module {module_name} can be imported ({exc})") from None
    except Exception as exc:  # the module itself failed while importing
        raise ValueError(f"module {module_name} failed to import ({type(exc).__name__}: {exc})") from None
    found = getattr(module, class_name, None)
    if not isinstance(found, type):
        raise ValueError(f"module {module_name} has no class {class_name}")
    call = getattr(found, "call", None)
    if call is None or call is Client.call:
        raise ValueError(f"{path} has no call(self, call) method")
    for name in ("connect", "close"):
        method = getattr(found, name, None)
        if method is None or not inspect.iscoroutinefunction(method):
            raise ValueError(
                f"{path}.{name} is not an async method (subclass sk_loadagent.engine.clients.Client)"
            )
    try:
        inspect.signature(found).bind()
    except TypeError:
        raise ValueError(f"{path} cannot be created without arguments") from None
    return found
