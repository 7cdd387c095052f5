"""The message buses the listener works on: NATS (core subjects, a queue group) and RabbitMQ (AMQP 0-9-1: a
durable queue, a topic exchange for what the agent publishes). Both libraries are optional
(``pip install 'sk-loadagent[events]'``) and imported only here.

Names, for an input ``name`` (``--subject`` / ``--queue``):

| | NATS | RabbitMQ |
| --- | --- | --- |
| events consumed | subject ``name``, queue group ``sk-loadagent`` | durable queue ``name`` |
| events published | subject ``<name>.out.<Type>`` | topic exchange ``<name>.out``, routing key ``<Type>`` |
| dead letters | subject ``<name>.dead`` | durable queue ``<name>.dead`` |

Delivery: RabbitMQ redelivers a message that was not acknowledged (the listener acknowledges after the run,
or gives an abandoned one back); at most ``concurrency`` are unacknowledged at once (prefetch). Core NATS
delivers at most once: a message whose run is abandoned at shutdown is not delivered again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from sk_loadagent.agent._extras import require
from sk_loadagent.errors import InputError

QUEUE_GROUP = "sk-loadagent"
DEAD_LETTER = "dead"


@dataclass
class Delivery:
    """One message: its body, whether the broker delivered it before, and how to settle it."""

    body: bytes
    redelivered: bool
    ack: Callable[[], Awaitable[None]]
    give_back: Callable[[], Awaitable[None]]


Handler = Callable[[Delivery], Awaitable[None]]


class Bus(Protocol):
    name: str

    async def start(self, handler: Handler) -> None:
        """Deliver each message to ``handler`` (which settles it), until ``stop``."""

    async def stop(self) -> None:
        """Take no further message; messages being handled are still settled."""

    async def publish(self, kind: str, body: bytes) -> None:
        """Publish an outbound event of type ``kind``, or a dead letter (``kind`` ``dead``)."""

    async def close(self) -> None: ...


async def _nothing() -> None:
    return None


class NatsBus:
    """Core NATS: ``name`` is the subject consumed, in queue group ``sk-loadagent``."""

    def __init__(self, url: str, name: str, concurrency: int) -> None:
        self.url, self.name, self.concurrency = url, name, concurrency
        self._nc: Any = None
        self._sub: Any = None

    async def connect(self) -> None:
        nats = require("nats", "events", "--bus")
        try:
            self._nc = await nats.connect(
                self.url, name="sk-loadagent listen", connect_timeout=5, max_reconnect_attempts=3
            )
        except Exception as exc:
            raise InputError.single(
                "--bus", self.url, "a NATS server that accepts connections", str(exc)
            ) from None

    async def start(self, handler: Handler) -> None:
        async def on_message(msg: Any) -> None:
            # Core NATS has no acknowledgement: settling is a no-op, and a redelivery never happens.
            await handler(Delivery(body=msg.data, redelivered=False, ack=_nothing, give_back=_nothing))

        # Callbacks run one after another; the handler waits for a free run slot, so at most `concurrency`
        # runs go on and the rest wait in the client's pending buffer.
        self._sub = await self._nc.subscribe(self.name, queue=QUEUE_GROUP, cb=on_message)
        await self._nc.flush()

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def publish(self, kind: str, body: bytes) -> None:
        subject = f"{self.name}.{DEAD_LETTER}" if kind == DEAD_LETTER else f"{self.name}.out.{kind}"
        await self._nc.publish(subject, body)
        await self._nc.flush()

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()


class AmqpBus:
    """RabbitMQ: ``name`` is the durable queue consumed; events go out on topic exchange ``<name>.out``."""

    def __init__(self, url: str, name: str, concurrency: int) -> None:
        self.url, self.name, self.concurrency = url, name, concurrency
        self._connection: Any = None
        self._channel: Any = None
        self._queue: Any = None
        self._exchange: Any = None
        self._tag: str | None = None

    async def connect(self) -> None:
        aio_pika = require("aio_pika", "events", "--bus")
        try:
            self._connection = await aio_pika.connect_robust(self.url, timeout=5)
        except Exception as exc:
            raise InputError.single(
                "--bus", self.url, "a RabbitMQ server that accepts connections", str(exc)
            ) from None
        self._channel = await self._connection.channel()
        await self._channel.set_qos(prefetch_count=self.concurrency)
        self._queue = await self._channel.declare_queue(self.name, durable=True)
        await self._channel.declare_queue(f"{self.name}.{DEAD_LETTER}", durable=True)
        self._exchange = await self._channel.declare_exchange(
            f"{self.name}.out", aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def start(self, handler: Handler) -> None:
        async def on_message(message: Any) -> None:
            async def ack() -> None:
                await message.ack()

            async def give_back() -> None:
                await message.nack(requeue=True)

            await handler(
                Delivery(
                    body=message.body, redelivered=bool(message.redelivered), ack=ack, give_back=give_back
                )
            )

        self._tag = await self._queue.consume(on_message)

    async def stop(self) -> None:
        if self._tag is not None:
            await self._queue.cancel(self._tag)
            self._tag = None

    async def publish(self, kind: str, body: bytes) -> None:
        aio_pika = require("aio_pika", "events", "--bus")
        message = aio_pika.Message(
            body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )
        if kind == DEAD_LETTER:
            await self._channel.default_exchange.publish(message, routing_key=f"{self.name}.{DEAD_LETTER}")
        else:
            await self._exchange.publish(message, routing_key=kind)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


async def open_bus(url: str, name: str, concurrency: int) -> NatsBus | AmqpBus:
    """The bus for ``nats://…`` or ``amqp://…`` (``amqps://``), connected."""
    scheme = urlsplit(url).scheme
    bus: NatsBus | AmqpBus
    if scheme in ("nats", "tls"):
        bus = NatsBus(url, name, concurrency)
    elif scheme in ("amqp", "amqps"):
        bus = AmqpBus(url, name, concurrency)
    else:
        raise InputError.single("--bus", url, "a nats:// or amqp:// URL, such as nats://127.0.0.1:4222")
    await bus.connect()
    return bus
