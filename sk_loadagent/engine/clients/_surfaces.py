"""The broker surfaces by name: the hub of a test's block, and the probe that runs before any load."""

from __future__ import annotations

from sk_loadagent.engine.clients._broker import BrokerHub
from sk_loadagent.extras import require
from sk_loadagent.models.surfaces import AmqpSurface, NatsSurface, RedisSurface, SurfaceBlock

_MODULES = {"amqp": "aio_pika", "nats": "nats", "redis": "redis.asyncio"}


def surface_name(block: SurfaceBlock) -> str:
    if isinstance(block, AmqpSurface):
        return "amqp"
    if isinstance(block, NatsSurface):
        return "nats"
    return "redis"


def require_surface(name: str, feature: str) -> None:
    """The surface's library imported, or an InputError naming ``pip install 'sk-loadagent[surfaces]'``."""
    require(_MODULES[name], "surfaces", feature)


def open_hub(block: SurfaceBlock, timeout: float) -> BrokerHub:
    """The (unconnected) hub of one worker for ``block``."""
    if isinstance(block, AmqpSurface):
        from sk_loadagent.engine.clients._amqp import AmqpHub

        return AmqpHub(block, timeout)
    if isinstance(block, NatsSurface):
        from sk_loadagent.engine.clients._nats import NatsHub

        return NatsHub(block, timeout)
    from sk_loadagent.engine.clients._redis import RedisHub

    return RedisHub(block, timeout)


async def probe(block: SurfaceBlock, timeout: float) -> None:
    """Connect once before the load: ConnectionError when the broker cannot be reached, LookupError(field,
    name) when a queue or stream the test reads is not there."""
    if isinstance(block, AmqpSurface):
        from sk_loadagent.engine.clients._amqp import probe_amqp

        await probe_amqp(block, timeout)
    elif isinstance(block, NatsSurface):
        from sk_loadagent.engine.clients._nats import probe_nats

        await probe_nats(block, timeout)
    else:
        assert isinstance(block, RedisSurface)
        from sk_loadagent.engine.clients._redis import probe_redis

        await probe_redis(block, timeout)
