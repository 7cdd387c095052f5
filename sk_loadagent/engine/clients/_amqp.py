"""RabbitMQ (aio-pika): publish with confirms, correlate by ``correlation_id``, depth by passive declare.

Each message carries the correlation id as both ``correlation_id`` and ``message_id``; the output queue is
consumed without acks (the agent only reads what the service wrote). Depth is read on a channel of its own
with the low-level passive declare, whose ``message_count`` is the broker's (aio-pika's high-level declare
can answer from its cache).

A broker that goes away mid-run is one note of the run (``the connection to the broker was lost``); the
publishes after it fail (``reset``) or time out. While the hub is open, what aiormq logs becomes a note too
instead of lines on the terminal: its reader's traceback when the connection breaks is that same loss.
"""

from __future__ import annotations

import logging
from typing import Any

from sk_loadagent.engine.clients._broker import BrokerHub, failure_text
from sk_loadagent.extras import require
from sk_loadagent.models.surfaces import AmqpSurface

_LIBRARY_LOGGERS = ("aiormq.connection", "aiormq.channel")
MAX_LIBRARY_NOTES = 5


class _LibraryNotes(logging.Filter):
    """Turns aiormq's log records into the hub's notes (one line each, at most ``MAX_LIBRARY_NOTES``)."""

    def __init__(self, hub: AmqpHub) -> None:
        super().__init__()
        self._hub = hub
        self._kept = 0

    def filter(self, record: logging.LogRecord) -> bool:
        failure = record.exc_info[1] if record.exc_info else None
        if self._hub.is_loss(failure) or self._kept >= MAX_LIBRARY_NOTES:
            return False  # the loss is the hub's own note, from the connection's close callback
        text = f"amqp: {record.getMessage()}"
        if failure is not None:
            text += f" ({failure_text(failure)})"
        if text not in self._hub.notes:
            self._kept += 1
            self._hub.notes.append(text)
        return False


class AmqpHub(BrokerHub):
    kind = "amqp"
    block: AmqpSurface

    def __init__(self, block: AmqpSurface, timeout: float) -> None:
        super().__init__(block, timeout)
        self._aio_pika: Any = require("aio_pika", "surfaces", "surface: amqp")
        self._connection: Any = None
        self._channel: Any = None
        self._exchange: Any = None
        self._depth_channel: Any = None
        self._depth_names: list[str] = []
        self._library_notes = _LibraryNotes(self)

    def is_loss(self, failure: BaseException | None) -> bool:
        """Whether ``failure`` is the connection breaking (a socket error, the broker closing it)."""
        return isinstance(failure, ConnectionError | self._aio_pika.exceptions.AMQPConnectionError)

    def _lost(self, _connection: Any, failure: BaseException | None) -> None:
        if self.closing or failure is None:
            return
        cause = failure_text(failure)
        text = f"amqp: the connection to the broker was lost ({cause}); publishes after it failed"
        if text not in self.notes:
            self.notes.append(text)

    async def _open(self) -> None:
        aio_pika = self._aio_pika
        block = self.block
        for name in _LIBRARY_LOGGERS:
            logging.getLogger(name).addFilter(self._library_notes)
        self._connection = await aio_pika.connect(block.url, timeout=self.timeout)
        self._connection.close_callbacks.add(self._lost)
        self._channel = await self._connection.channel(publisher_confirms=True)
        if block.publish is not None and block.publish.exchange:
            self._exchange = await self._channel.get_exchange(block.publish.exchange, ensure=True)
        else:
            self._exchange = self._channel.default_exchange
        await self._read(block.consume.queue, dead=False)
        if block.dead_letter is not None:
            await self._read(block.dead_letter.queue, dead=True)
        self._depth_channel = await self._connection.channel()
        self._depth_names = block.depth_queues()

    async def _read(self, name: str, *, dead: bool) -> None:
        await self._channel.get_queue(name, ensure=True)  # the broker must have it (the probe checked)

        # Read on aiormq's channel, below aio-pika's: a delivery then costs one task, not two plus a wrapped
        # message, and a burst of answers is stamped sooner (each one waits for those before it).
        def on_message(message: Any) -> None:
            correlation = message.header.properties.correlation_id
            if dead:
                self.dead(correlation)
            else:
                self.arrived(correlation, message.body)

        underlay = await self._channel.get_underlay_channel()
        await underlay.basic_consume(name, on_message, no_ack=True)

    async def _publish(self, correlation: str, body: bytes, headers: dict[str, str]) -> None:
        message = self._aio_pika.Message(
            body,
            correlation_id=correlation,
            message_id=correlation,
            headers=dict(headers) or None,
            content_type="application/json" if body[:1] in (b"{", b"[") else "text/plain",
        )
        assert self.block.publish is not None, "a step that only consumes never publishes"
        await self._exchange.publish(message, routing_key=self.block.publish.routing_key)

    async def _depth_now(self) -> dict[str, float]:
        found: dict[str, float] = {}
        underlay = await self._depth_channel.get_underlay_channel()
        for name in self._depth_names:
            ok = await underlay.queue_declare(queue=name, passive=True)
            found[name] = float(ok.message_count or 0)
        return found

    async def _close(self) -> None:
        try:
            if self._connection is not None:
                await self._connection.close()
        finally:
            for name in _LIBRARY_LOGGERS:
                logging.getLogger(name).removeFilter(self._library_notes)


async def probe_amqp(block: AmqpSurface, timeout: float) -> None:
    """Connect and check the queues read exist; raises ConnectionError (unreachable) or LookupError (a
    queue that is not there, naming its field)."""
    aio_pika = require("aio_pika", "surfaces", "surface: amqp")
    try:
        connection = await aio_pika.connect(block.url, timeout=timeout)
    except Exception as exc:
        raise ConnectionError(failure_text(exc)) from None
    try:
        named = [("amqp.consume.queue", block.consume.queue)]
        if block.dead_letter is not None:
            named.append(("amqp.deadLetter.queue", block.dead_letter.queue))
        for field, queue in named:
            channel = await connection.channel()
            try:
                await channel.get_queue(queue, ensure=True)
            except Exception:
                raise LookupError(field, queue) from None
            finally:
                if not channel.is_closed:
                    await channel.close()
    finally:
        await connection.close()
