"""gRPC (grpcio, asyncio): calls of one method of a ``.proto`` compiled at run time, one channel per worker.

The proto is compiled with grpcio-tools' protoc (in a child process, so its errors can be shown) into a
cache folder keyed by the proto's content (``$XDG_CACHE_HOME/sk-loadagent/grpc/<hash>``, else
``~/.cache/...``): a proto compiled once is not compiled again. Calls go through the channel's generic
``unary_unary`` / ``unary_stream`` with the method's message classes, so no generated stub is needed.

A unary call ends with its response; a server-streaming call with the stream's end, and beside it the
hub keeps ``streamMessages`` (messages per stream) and ``messageGap`` (the time between two messages of a
stream). A status other than OK fails the call with that status's class (``grpcUnavailable``, ...).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sk_loadagent.engine.clients._broker import SurfaceStats
from sk_loadagent.engine.clients.base import Call, Client, ClientError, Reply
from sk_loadagent.extras import require
from sk_loadagent.measurements import SurfaceMeasurements
from sk_loadagent.models.plan import TlsOptions
from sk_loadagent.models.surfaces import GrpcSurface

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


def request_message(method: Method, document: dict[str, Any]) -> Any:
    """The request message of ``document`` (the rendered YAML); raises ValueError naming the problem."""
    from google.protobuf import json_format

    try:
        return json_format.ParseDict(document, method.request())
    except json_format.ParseError as exc:
        raise ValueError(str(exc)) from None


def load_method(block: GrpcSurface) -> Method:
    """The block's method, its proto compiled; raises ProtoError."""
    return find_method(compile_proto(block.proto), block.service, block.method)


def _target(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'grpcs' else 80)}"


def _credentials(grpc: Any, tls: TlsOptions | None) -> Any:
    root = Path(tls.ca_file).read_bytes() if tls is not None and tls.ca_file else None
    return grpc.ssl_channel_credentials(root_certificates=root)


def _error_class(code: Any) -> str:
    return "grpc" + "".join(w.capitalize() for w in str(code.name).split("_"))


class GrpcHub:
    """One worker's channel and the method it calls."""

    kind = "grpc"

    def __init__(self, block: GrpcSurface, timeout: float, tls: TlsOptions | None) -> None:
        self._grpc: Any = require("grpc", "surfaces", "surface: grpc")
        self.block = block
        self.timeout = timeout
        self.tls = tls
        self.method = load_method(block)
        self.metadata = tuple(block.metadata.items()) or None
        self.stats = SurfaceStats(self.kind)
        self.notes = self.stats.notes
        self.channel: Any = None
        self.callable: Any = None

    async def start_or_note(self) -> None:
        grpc = self._grpc
        target = _target(self.block.url)
        if self.block.url.startswith("grpcs://"):
            self.channel = grpc.aio.secure_channel(target, _credentials(grpc, self.tls))
        else:
            self.channel = grpc.aio.insecure_channel(target)
        make = self.channel.unary_stream if self.method.server_streaming else self.channel.unary_unary
        self.callable = make(
            self.method.path,
            request_serializer=self.method.request.SerializeToString,
            response_deserializer=self.method.response.FromString,
        )

    async def aclose(self) -> None:
        if self.channel is not None:
            await self.channel.close(grace=None)

    def new(self) -> Client:
        return _GrpcClient(self)

    def measurements(self, target: str) -> SurfaceMeasurements:
        return self.stats.measurements(target)


class _GrpcClient(Client):
    __slots__ = ("_hub", "broken")

    def __init__(self, hub: GrpcHub) -> None:
        self._hub = hub
        self.broken = False

    async def call(self, call: Call) -> Reply:
        hub = self._hub
        try:
            request = request_message(hub.method, call.params)
        except ValueError as exc:
            raise ClientError("request", str(exc)) from None
        try:
            if not hub.method.server_streaming:
                response = await hub.callable(request, timeout=hub.timeout, metadata=hub.metadata)
                body = response.SerializeToString()
                return Reply(status=None, body=body, bytes_in=len(body), bytes_out=request.ByteSize())
            return await self._stream(request)
        except hub._grpc.aio.AioRpcError as exc:
            raise ClientError(_error_class(exc.code())) from None

    async def _stream(self, request: Any) -> Reply:
        hub = self._hub
        stats = hub.stats
        began = last = _perf_counter()
        count = size = 0
        try:
            async for message in hub.callable(request, timeout=hub.timeout, metadata=hub.metadata):
                now = _perf_counter()
                if count:
                    stats.timed("messageGap", last, now - last)
                last = now
                count += 1
                size += message.ByteSize()
        finally:
            stats.timed("streamMessages", began, float(count))
        return Reply(status=None, bytes_in=size, bytes_out=request.ByteSize())


async def probe_grpc(block: GrpcSurface, timeout: float, tls: TlsOptions | None) -> None:
    """The channel becomes ready within ``timeout``; raises ConnectionError."""
    import asyncio

    hub = GrpcHub(block, timeout, tls)
    await hub.start_or_note()
    try:
        await asyncio.wait_for(hub.channel.channel_ready(), timeout=timeout)
    except TimeoutError:
        raise ConnectionError(f"no gRPC server answered at {_target(block.url)}") from None
    finally:
        await hub.aclose()
