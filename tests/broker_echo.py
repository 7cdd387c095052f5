"""Tiny services for the broker surfaces' tests: each reads its input, waits ``delay`` seconds and writes the
message to its output with the correlation id copied; a message whose body holds ``poison`` is rejected
(AMQP: dead-lettered by the broker) or written to the dead-letter output, and one holding ``drop`` is
never answered. Each works on queues, subjects or streams named for the test, deleted afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sk_loadagent.engine.clients._stopping import stop_task

CORRELATION = "x-correlation-id"


def names(prefix: str) -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"{prefix}.{tag}.in", f"{prefix}.{tag}.out", f"{prefix}.{tag}.dead"


class AmqpEcho:
    """RabbitMQ: input queue dead-letters to ``dead`` (default exchange) when the worker rejects."""

    def __init__(self, url: str, delay: float = 0.0) -> None:
        self.url = url
        self.delay = delay
        self.inq, self.outq, self.deadq = names("sk-surface")
        self._connection: Any = None

    async def __aenter__(self) -> AmqpEcho:
        import aio_pika

        self._connection = await aio_pika.connect(self.url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=1000)
        await channel.declare_queue(self.deadq)
        await channel.declare_queue(self.outq)
        queue = await channel.declare_queue(
            self.inq, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.deadq}
        )

        async def handle(message: Any) -> None:
            if b"poison" in message.body:
                await message.reject(requeue=False)
                return
            await message.ack()
            if b"drop" in message.body:
                return
            if self.delay:
                await asyncio.sleep(self.delay)
            await channel.default_exchange.publish(
                aio_pika.Message(message.body, correlation_id=message.correlation_id), routing_key=self.outq
            )

        async def on_message(message: Any) -> None:
            asyncio.get_running_loop().create_task(handle(message))

        await queue.consume(on_message)
        self._channel = channel
        return self

    async def __aexit__(self, *exc: object) -> None:
        channel = await self._connection.channel()
        for name in (self.inq, self.outq, self.deadq):
            with contextlib.suppress(Exception):
                await channel.queue_delete(name)
        await self._connection.close()


class NatsEcho:
    """NATS: core subjects (and a JetStream stream over the input subject when ``jetstream``)."""

    def __init__(self, url: str, delay: float = 0.0, jetstream: bool = False) -> None:
        self.url = url
        self.delay = delay
        self.jetstream = jetstream
        self.insubj, self.outsubj, self.deadsubj = names("sk-surface")
        self.stream = "SKSURF_" + uuid.uuid4().hex[:10].upper()
        self._nc: Any = None

    async def __aenter__(self) -> NatsEcho:
        import nats

        self._nc = await nats.connect(self.url)
        nc = self._nc
        if self.jetstream:
            await nc.jetstream().add_stream(name=self.stream, subjects=[self.insubj])

        async def handle(msg: Any) -> None:
            headers = {CORRELATION: (msg.headers or {}).get(CORRELATION, "")}
            if b"poison" in msg.data:
                await nc.publish(self.deadsubj, msg.data, headers=headers)
                return
            if b"drop" in msg.data:
                return
            if self.delay:
                await asyncio.sleep(self.delay)
            await nc.publish(self.outsubj, msg.data, headers=headers)

        async def on_message(msg: Any) -> None:
            asyncio.get_running_loop().create_task(handle(msg))

        await nc.subscribe(self.insubj, cb=on_message)
        await nc.flush()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.jetstream:
            with contextlib.suppress(Exception):
                await self._nc.jetstream().delete_stream(self.stream)
        await self._nc.close()


class RedisEcho:
    """Redis Streams: consumer group ``workers`` on the input stream, XACK after writing the output."""

    def __init__(self, url: str, delay: float = 0.0) -> None:
        self.url = url
        self.delay = delay
        self.instream, self.outstream, self.deadstream = names("sk-surface")
        self.group = "workers"
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None
        self._stopping = False

    async def __aenter__(self) -> RedisEcho:
        import redis.asyncio as redis

        self._client = redis.from_url(self.url)
        await self._client.xgroup_create(self.instream, self.group, id="0", mkstream=True)
        self._task = asyncio.get_running_loop().create_task(self._work())
        return self

    async def _work(self) -> None:
        client = self._client
        while not self._stopping:
            answer = await client.xreadgroup(self.group, "w1", {self.instream: ">"}, count=100, block=100)
            for _, entries in answer or []:
                for entry_id, fields in entries:
                    asyncio.get_running_loop().create_task(self._handle(entry_id, fields))

    async def _handle(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        client = self._client
        body = fields.get(b"body", b"")
        out = {CORRELATION: fields.get(CORRELATION.encode(), b""), "body": body}
        if b"poison" in body:
            await client.xadd(self.deadstream, out)
        elif b"drop" not in body:
            if self.delay:
                await asyncio.sleep(self.delay)
            await client.xadd(self.outstream, out)
        await client.xack(self.instream, self.group, entry_id)

    async def __aexit__(self, *exc: object) -> None:
        # redis-py can swallow a cancel that lands in a blocking read (a CI run waited 12 minutes here): the
        # loop also stops on its flag, after at most one more 100 ms read, and the wait is bounded
        self._stopping = True
        await stop_task(self._task)
        await self._client.delete(self.instream, self.outstream, self.deadstream)
        await self._client.aclose()


class SilentSeen:
    """What a silent server saw: connections accepted, and those the client closed (its FIN arrived)."""

    def __init__(self) -> None:
        self.accepted = 0
        self.hung_up = 0


@contextlib.asynccontextmanager
async def silent_server(seen: SilentSeen | None = None) -> AsyncIterator[int]:
    """A server on an ephemeral loopback port that accepts connections and never says a word (a broker that
    hangs); yields its port, counts into ``seen`` what it accepted and what the client closed, and closes
    what it accepted on the way out."""
    accepted: list[asyncio.StreamWriter] = []
    counts = seen if seen is not None else SilentSeen()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        counts.accepted += 1
        await reader.read()  # until the client gives up
        counts.hung_up += 1

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            for writer in accepted:
                writer.close()


@contextlib.contextmanager
def in_thread(echo: Any) -> Iterator[Any]:
    """Run an echo service on an event loop of its own thread (for tests that call the synchronous CLI)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(echo.__aenter__(), loop).result(timeout=10)
    try:
        yield echo
    finally:
        asyncio.run_coroutine_threadsafe(echo.__aexit__(None, None, None), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


class WebSocketEcho:
    """A WebSocket server on an ephemeral loopback port: echoes each message after ``delay`` (one holding
    ``drop`` gets no answer), closes a session after ``close_after`` messages, and after a
    ``{"op": "subscribe"}`` pushes ``{"ts": <epoch ms>}`` every 20 ms."""

    def __init__(self, delay: float = 0.0, close_after: int | None = None, ssl: Any = None) -> None:
        self.delay = delay
        self.close_after = close_after
        self.ssl = ssl
        self.sessions = 0
        self._server: Any = None
        self.url = ""

    async def __aenter__(self) -> WebSocketEcho:
        from websockets.asyncio.server import serve

        async def session(ws: Any) -> None:
            self.sessions += 1
            pushing: asyncio.Task[None] | None = None
            count = 0
            try:
                async for message in ws:
                    if '"subscribe"' in message:
                        pushing = asyncio.get_running_loop().create_task(self._push(ws))
                        continue
                    count += 1
                    if "drop" not in message:
                        if self.delay:
                            await asyncio.sleep(self.delay)
                        await ws.send(message)
                    if self.close_after is not None and count >= self.close_after:
                        await ws.close()
                        return
            finally:
                if pushing is not None:
                    pushing.cancel()

        self._server = await serve(session, "127.0.0.1", 0, compression=None, ssl=self.ssl)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"{'wss' if self.ssl is not None else 'ws'}://127.0.0.1:{port}"
        return self

    async def _push(self, ws: Any) -> None:
        import json
        import time

        while True:
            await asyncio.sleep(0.02)
            await ws.send(json.dumps({"ts": time.time() * 1000 - 5}))  # published 5 ms ago

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()
