"""Serving an app with uvicorn on a socket we bind ourselves: loopback unless a host is named, port 0 for a
free port, and the URL known before the first request."""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from sk_loadagent.errors import InputError

LOOPBACK_HOST = "127.0.0.1"


def bind(host: str | None, port: int, flag: str = "--port") -> socket.socket:
    """A listening socket on ``host`` (127.0.0.1 when None) and ``port`` (0: a free one); a port out of
    range or taken, or a host that does not resolve, is bad input naming ``flag``."""
    if not 0 <= port <= 65535:
        raise InputError.single(flag, "port", "a port from 0 to 65535", str(port))
    where = host or LOOPBACK_HOST
    try:
        family, kind, proto, _, address = socket.getaddrinfo(where, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise InputError.single(
            "--host", "host", "a host name or address of this machine", f"{where} ({exc.strerror})"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InputError.single(
            flag, "port", "a free port on this machine (0 picks one)", f"{port} ({exc.strerror})"
        ) from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    text = f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    return f"http://{text}:{port}/"


class _QuietServer(uvicorn.Server):
    """A server inside a run: the run owns SIGINT and SIGTERM, so uvicorn must not take them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _StoppedBySignal(uvicorn.Server):
    """A server of its own command: SIGINT or SIGTERM stops it gracefully (the store closed) and the
    command then ends normally; uvicorn would raise the signal again once stopped."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        wanted = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in wanted}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def server(app: Any, *, own_signals: bool) -> uvicorn.Server:
    """A uvicorn server for ``app``: stopped by SIGINT/SIGTERM when it owns them (call from the main
    thread), else only by ``should_exit`` (inside a run, or in a thread)."""
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=5
    )
    return _StoppedBySignal(config) if own_signals else _QuietServer(config)
