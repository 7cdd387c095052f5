"""Redis Streams (redis.asyncio): XADD with the correlation id in a field, XREAD the output stream.

Each entry carries ``x-correlation-id``, the message under ``body`` and each header as a field of its own.
The output (and dead-letter) stream is read from the entry that was last when the test began, with a
blocking XREAD on a connection of its own. Time-to-ack is XADD's round trip. Depth is the service's
consumer group ``lag`` (entries not yet delivered to it) and its pending entries (XPENDING: delivered, not
acknowledged) when ``group`` names it, else the stream's length (XLEN).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sk_loadagent.engine.clients._broker import BrokerHub, failure_text
from sk_loadagent.engine.clients._stopping import finish_within, stop_task
from sk_loadagent.extras import require
from sk_loadagent.models.surfaces import CORRELATION_HEADER, RedisSurface

READ_BLOCK_MS = 200
READ_COUNT = 1000
_FIELD = CORRELATION_HEADER.encode()


def _client(url: str, timeout: float, read_timeout: float | None = None, *, single: bool = False) -> Any:
    redis = require("redis.asyncio", "surfaces", "surface: redis")
    reads = read_timeout if read_timeout is not None else timeout + 1  # above a blocking XREAD's 200 ms
    return redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=reads, single_connection_client=single
    )


async def _last_id(client: Any, stream: str) -> bytes:
    last = await client.xrevrange(stream, count=1)
    return bytes(last[0][0]) if last else b"0-0"


class RedisHub(BrokerHub):
    kind = "redis"
    block: RedisSurface

    def __init__(self, block: RedisSurface, timeout: float) -> None:
        super().__init__(block, timeout)
        require("redis.asyncio", "surfaces", "surface: redis")
        self._client: Any = None
        self._reader_client: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        block = self.block
        self._client = _client(block.url, self.timeout)
        await self._client.ping()
        self._reader_client = _client(block.url, self.timeout)
        streams = {block.consume.stream: await _last_id(self._client, block.consume.stream)}
        if block.dead_letter is not None:
            streams[block.dead_letter.stream] = await _last_id(self._client, block.dead_letter.stream)
        self._reader = asyncio.get_running_loop().create_task(self._read(streams))

    async def _read(self, streams: dict[str, bytes]) -> None:
        dead = self.block.dead_letter.stream.encode() if self.block.dead_letter is not None else None
        while not self.closing:  # the flag as well as the cancel: redis-py can swallow a cancel in a read
            try:
                answer = await self._reader_client.xread(streams, count=READ_COUNT, block=READ_BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.notes.append(f"redis: reading the output stopped ({type(exc).__name__}: {exc})")
                return
            for name, entries in answer or []:
                key = bytes(name)
                for _entry_id, fields in entries:
                    correlation = fields.get(_FIELD)
                    text = correlation.decode() if correlation is not None else None
                    if key == dead:
                        self.dead(text)
                    else:
                        self.arrived(text, bytes(fields.get(b"body", b"")))
                streams[key.decode()] = bytes(entries[-1][0])

    async def _publish(self, correlation: str, body: bytes, headers: dict[str, str]) -> None:
        publish = self.block.publish
        assert publish is not None, "a step that only consumes never publishes"
        fields: dict[str, Any] = {**headers, CORRELATION_HEADER: correlation, "body": body}
        await self._client.xadd(
            publish.stream, fields, maxlen=publish.maxlen, approximate=publish.maxlen is not None
        )

    async def _depth_now(self) -> dict[str, float]:
        block = self.block
        stream = block.publish.stream if block.publish is not None else block.consume.stream
        if block.group is None:
            return {stream: float(await self._client.xlen(stream))}
        groups = await self._client.xinfo_groups(stream)
        group = next((g for g in groups if _text(g.get("name")) == block.group), None)
        if group is None:
            return {stream: float(await self._client.xlen(stream))}
        lag = group.get("lag")
        return {
            f"{stream}/{block.group} lag": float(lag) if lag is not None else float("nan"),
            f"{stream}/{block.group} pending": float(group.get("pending") or 0),
        }

    async def _close(self) -> None:
        await stop_task(self._reader)
        for client in (self._client, self._reader_client):
            if client is not None:
                await finish_within(client.aclose())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def probe_redis(block: RedisSurface, timeout: float) -> None:
    """Connect (PING); raises ConnectionError."""
    # One connection the client owns, dropped by hand when the PING failed on it (redis-py leaves a socket
    # that timed out open otherwise).
    client = _client(block.url, timeout, read_timeout=timeout, single=True)
    try:
        await client.ping()
    except Exception as exc:
        connection = getattr(client, "connection", None)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
        raise ConnectionError(failure_text(exc)) from None
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
