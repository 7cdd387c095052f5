"""gRPC: calls of one method of a ``.proto`` compiled at run time, on the engine's own HTTP/2 connections.

The proto is compiled with grpcio-tools' protoc (in a child process, so its errors can be shown) into a
cache folder keyed by the proto's content (``$XDG_CACHE_HOME/sk-loadagent/grpc/<hash>``, else
``~/.cache/...``): a proto compiled once is not compiled again. protobuf gives the method's message classes;
the calls themselves go over ``_grpc_wire.FastGrpcConnection`` (HTTP/2 on callbacks, one connection per
client), so no generated stub or grpcio channel is involved.

A unary call ends with its response; a server-streaming call with the stream's end, and beside it the
hub keeps ``streamMessages`` (messages per stream) and ``messageGap`` (the time between two messages of a
stream). A status other than OK fails the call with that status's class (``grpcUnavailable``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sk_loadagent.engine._requests import USER_AGENT
from sk_loadagent.engine._tls import ResumingContext, client_context
from sk_loadagent.engine.clients._broker import SurfaceStats
from sk_loadagent.engine.clients._callbacks import FutureAnswers
from sk_loadagent.engine.clients._grpc_wire import (
    FastGrpcConnection,
    GrpcRequestWire,
    HeaderCache,
    StepRequestWire,
    grpc_timeout,
    header_block,
    headers_frames,
)
from sk_loadagent.engine.clients._grpc_wire import request_message as request_message  # the build step's
from sk_loadagent.engine.clients.base import Call, Client, ClientError, ClientTarget, Reply
from sk_loadagent.engine.result import Outcome
from sk_loadagent.extras import require
from sk_loadagent.measurements import SurfaceMeasurements
from sk_loadagent.models.plan import TlsOptions
from sk_loadagent.models.surfaces import GrpcSurface

if TYPE_CHECKING:
    from sk_loadagent.engine._flow import CompiledStep

COMPILE_TIMEOUT = 60.0
_perf_counter = time.perf_counter


class ProtoError(ValueError):
    """A proto that cannot be used: ``field`` of the grpc block, what would do, what was found."""

    def __init__(self, field: str, expected: str, got: str | None = None) -> None:
        super().__init__(f"{field}: expected {expected}")
        self.field = field
        self.expected = expected
        self.got = got


@dataclass(frozen=True)
class Method:
    """The method a test calls: its path on the wire, message classes and whether the server streams."""

    path: str
    request: Any
    response: Any
    server_streaming: bool


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sk-loadagent" / "grpc"


def compile_proto(proto: str) -> Any:
    """The ``_pb2`` module of ``proto``, compiled (or found in the cache); raises ProtoError."""
    path = Path(proto).expanduser()
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ProtoError("proto", "a .proto file that can be read", f"{proto} ({exc.strerror})") from None
    grpc_tools = require("grpc_tools", "surfaces", "surface: grpc")
    folder = _cache_root() / hashlib.sha256(path.name.encode() + b"\0" + text).hexdigest()[:20]
    module = f"{path.stem}_pb2"
    if not (folder / f"{module}.py").is_file():
        _protoc(path, folder, Path(str(grpc_tools.__file__)).parent / "_proto")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(module)


def _protoc(path: Path, folder: Path, well_known: Path) -> None:
    staging = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    staging.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{path.parent.resolve()}",
        f"-I{well_known}",
        f"--python_out={staging}",
        str(path.resolve()),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT, check=False)
    if done.returncode != 0:
        first = next((line for line in done.stderr.splitlines() if line.strip()), "protoc failed")
        raise ProtoError("proto", "a .proto file protoc compiles", first.strip())
    with contextlib.suppress(OSError):  # another process compiled it at the same time: theirs is the same
        staging.rename(folder)


def find_method(pb2: Any, service: str, method: str) -> Method:
    """The method ``service/method`` of the compiled proto; raises ProtoError naming what it defines."""
    from google.protobuf import message_factory  # type: ignore[import-untyped]

    services = list(pb2.DESCRIPTOR.services_by_name.values())
    found = next((s for s in services if service in (s.full_name, s.name)), None)
    if found is None:
        names = ", ".join(s.full_name for s in services) or "none"
        raise ProtoError("service", f"a service the proto defines ({names})", repr(service))
    described = found.methods_by_name.get(method)
    if described is None:
        names = ", ".join(found.methods_by_name) or "none"
        raise ProtoError("method", f"a method of {found.full_name} ({names})", repr(method))
    if described.client_streaming:
        raise ProtoError(
            "method", "a unary or server-streaming method (client streaming is not loaded)", method
        )
    return Method(
        path=f"/{found.full_name}/{described.name}",
        request=message_factory.GetMessageClass(described.input_type),
        response=message_factory.GetMessageClass(described.output_type),
        server_streaming=described.server_streaming,
    )


def load_method(block: GrpcSurface) -> Method:
    """The block's method, its proto compiled; raises ProtoError."""
    return find_method(compile_proto(block.proto), block.service, block.method)


def _target(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'grpcs' else 80)}"


class GrpcHub:
    """One worker's gRPC endpoint: the method it calls, the request's wire form, the HEADERS every call
    sends (encoded once), the TLS context and the stream figures; its clients are connections of their own."""

    kind = "grpc"

    def __init__(self, block: GrpcSurface, timeout: float, tls: TlsOptions | None) -> None:
        require("hpack", "surfaces", "surface: grpc")
        self.block = block
        self.timeout = timeout
        self.tls = tls
        self.method = load_method(block)
        self.stats = SurfaceStats(self.kind)
        self.notes = self.stats.notes
        parts = urlsplit(block.url)
        secure = parts.scheme == "grpcs"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if secure else 80)
        self.ssl: ResumingContext | None = None
        self.server_name = self.host
        if secure:
            # The engine's TLS context (CA, client certificate, minimum version, verification) with ALPN h2.
            self.ssl = client_context(tls if tls is not None else TlsOptions(), alpn=["h2"])
            self.server_name = (tls.server_name if tls is not None else None) or self.host
        authority = _target(block.url)  # as grpcio sends it: host:port
        fields = [
            (":method", "POST"),
            (":scheme", "https" if secure else "http"),
            (":path", self.method.path),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            ("grpc-timeout", grpc_timeout(timeout)),
            ("user-agent", f"{USER_AGENT} (grpc)"),
            *((name.lower(), value) for name, value in block.metadata.items()),
        ]
        self.headers_frames = headers_frames(header_block(fields))
        self.header_cache = HeaderCache()
        self.wire = GrpcRequestWire(self.method, block.request)

    async def start_or_note(self) -> None:
        """Nothing shared to open: each client connects on its own."""

    async def aclose(self) -> None:
        """Nothing shared to release: each client closes its own connection."""

    def new(self) -> Client:
        return GrpcClient(self)

    def fast_connection(
        self, answered: Callable[[], None], failed: Callable[[Outcome], None]
    ) -> FastGrpcConnection:
        """An unconnected connection for a callback driver (``FastHttpConnection``'s contract)."""
        return FastGrpcConnection(self, answered, failed)

    def request_wire(self, step: CompiledStep) -> StepRequestWire:
        """``step``'s request message per iteration, as bytes for ``FastGrpcConnection.send``."""
        return StepRequestWire(self.wire, step)

    def client_target(self) -> ClientTarget:
        scheme = "grpcs" if self.ssl is not None else "grpc"
        return ClientTarget(self.block.url, scheme, self.host, self.port, self.timeout)

    def measurements(self, target: str) -> SurfaceMeasurements:
        return self.stats.measurements(target)


class GrpcClient(FastGrpcConnection, FutureAnswers):
    """A gRPC connection as a ``Client`` (the task path): each call answered through a future."""

    def __init__(self, hub: GrpcHub) -> None:
        super().__init__(hub, self._resolve, self._reject)
        self._wire = hub.wire
        self._loop = asyncio.get_running_loop()

    def call(self, call: Call) -> asyncio.Future[Reply]:
        try:
            request = self._wire.encode(call.params)
        except ValueError as exc:
            raise ClientError("request", str(exc)) from None
        waiter = self._waiter = self._loop.create_future()
        self.send(request)
        return waiter


def _nothing() -> None:
    """A probe sends no call: nothing is answered."""


def _nothing_failed(outcome: Outcome) -> None:
    """A probe sends no call: nothing fails."""


async def probe_grpc(block: GrpcSurface, timeout: float, tls: TlsOptions | None) -> None:
    """An HTTP/2 server answers (its SETTINGS arrive) within ``timeout``; raises ConnectionError."""
    hub = GrpcHub(block, timeout, tls)
    connection = hub.fast_connection(_nothing, _nothing_failed)
    try:
        await asyncio.wait_for(connection.handshake(hub.client_target()), timeout=timeout)
    except (TimeoutError, ClientError, OSError):
        raise ConnectionError(f"no gRPC server answered at {_target(block.url)}") from None
    finally:
        connection.drop()
        await hub.aclose()
