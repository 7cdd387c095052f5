"""The built-in surfaces by name: the hub of a test's block, and the probe that runs before any load."""

from __future__ import annotations

from typing import Protocol

from sk_loadagent.engine.clients.base import Client
from sk_loadagent.extras import require
from sk_loadagent.measurements import SurfaceMeasurements
from sk_loadagent.models.plan import TlsOptions
from sk_loadagent.models.surfaces import (
    AmqpSurface,
    GrpcSurface,
    JobSurface,
    NatsSurface,
    RedisSurface,
    SurfaceBlock,
    WebhookSurface,
    WebSocketSurface,
)

_MODULES = {
    "amqp": "aio_pika",
    "nats": "nats",
    "redis": "redis.asyncio",
    "websocket": "websockets.asyncio.client",
    "grpc": "hpack",  # the engine's own HTTP/2 client: grpcio is only grpcio-tools' (protoc), not imported
    "webhook": "httpx",
    "job": "httpx",
}


class SurfaceHub(Protocol):
    """What a worker holds for a surface test: it makes the clients and keeps the surface's measurements."""

    notes: list[str]

    async def start_or_note(self) -> None: ...

    def new(self) -> Client: ...

    async def aclose(self) -> None: ...

    def measurements(self, target: str) -> SurfaceMeasurements: ...


def surface_name(block: SurfaceBlock) -> str:
    if isinstance(block, AmqpSurface):
        return "amqp"
    if isinstance(block, NatsSurface):
        return "nats"
    if isinstance(block, WebSocketSurface):
        return "websocket"
    if isinstance(block, GrpcSurface):
        return "grpc"
    if isinstance(block, WebhookSurface):
        return "webhook"
    if isinstance(block, JobSurface):
        return "job"
    return "redis"


def require_surface(name: str, feature: str) -> None:
    """The surface's library imported, or an InputError naming ``pip install 'sk-loadagent[surfaces]'``."""
    require(_MODULES[name], "surfaces", feature)


def open_hub(
    block: SurfaceBlock, timeout: float, tls: TlsOptions | None = None, base_url: str = ""
) -> SurfaceHub:
    """The (unconnected) hub of one worker for ``block``; webhooks and jobs call ``base_url``."""
    if isinstance(block, AmqpSurface):
        from sk_loadagent.engine.clients._amqp import AmqpHub

        return AmqpHub(block, timeout)
    if isinstance(block, NatsSurface):
        from sk_loadagent.engine.clients._nats import NatsHub

        return NatsHub(block, timeout)
    if isinstance(block, WebSocketSurface):
        from sk_loadagent.engine.clients._websocket import WebSocketHub

        return WebSocketHub(block.resolved(base_url) if block.url is None else block, timeout, tls)
    if isinstance(block, GrpcSurface):
        from sk_loadagent.engine.clients._grpc import GrpcHub

        return GrpcHub(block, timeout, tls)
    if isinstance(block, WebhookSurface):
        from sk_loadagent.engine.clients._http_surfaces import WebhookHub

        return WebhookHub(block, timeout, base_url, tls)
    if isinstance(block, JobSurface):
        from sk_loadagent.engine.clients._http_surfaces import JobHub

        return JobHub(block, timeout, base_url, tls)
    from sk_loadagent.engine.clients._redis import RedisHub

    assert isinstance(block, RedisSurface)
    return RedisHub(block, timeout)


async def probe(block: SurfaceBlock, timeout: float, tls: TlsOptions | None = None) -> None:
    """Connect once before the load: ConnectionError when the broker or endpoint cannot be reached,
    LookupError(field, name) when a queue or stream the test reads is not there."""
    if isinstance(block, AmqpSurface):
        from sk_loadagent.engine.clients._amqp import probe_amqp

        await probe_amqp(block, timeout)
    elif isinstance(block, NatsSurface):
        from sk_loadagent.engine.clients._nats import probe_nats

        await probe_nats(block, timeout)
    elif isinstance(block, WebSocketSurface):
        from sk_loadagent.engine.clients._websocket import probe_websocket

        await probe_websocket(block, timeout, tls)
    elif isinstance(block, GrpcSurface):
        from sk_loadagent.engine.clients._grpc import probe_grpc

        await probe_grpc(block, timeout, tls)
    elif isinstance(block, RedisSurface):
        from sk_loadagent.engine.clients._redis import probe_redis

        await probe_redis(block, timeout)
