"""NATS (nats-py): core publish, or JetStream publish with its ack; correlation in a message header.

The correlation id travels in the ``x-correlation-id`` header. The output subject is read with a plain
subscription (a JetStream stream's subjects reach core subscribers too). Core NATS has no acknowledgement,
so time-to-ack is measured only with ``jetstream``; depth is the JetStream consumer's pending and
unacknowledged messages when ``jetstream.consumer`` names the service's consumer, else the stream's
message count.
"""

from __future__ import annotations

from typing import Any

from sk_loadagent.engine.clients._broker import BrokerHub, failure_text
from sk_loadagent.extras import require
from sk_loadagent.models.surfaces import CORRELATION_HEADER, NatsSurface


async def _quiet(exc: Exception) -> None:
    """nats-py logs every connection error by default; the hub reports what matters."""


def _correlation(msg: Any) -> str | None:
    headers = msg.headers or {}
    value = headers.get(CORRELATION_HEADER)
    return str(value) if value is not None else None


async def connect_nats(url: str, timeout: float, *, reconnect: bool) -> Any:
    """A connection that gives up by itself: nats-py 2.x never returns from a refused first connect with
    ``allow_reconnect=False`` or ``max_reconnect_attempts=0``, but fails at once after one more attempt."""
    nats = require("nats", "surfaces", "surface: nats")
    return await nats.connect(
        url,
        name="sk-loadagent surface",
        # The probe's two attempts fit in its timeout, so nats-py closes its socket itself.
        connect_timeout=timeout if reconnect else max(0.1, timeout / 2.5),
        allow_reconnect=True,
        max_reconnect_attempts=3 if reconnect else 1,
        reconnect_time_wait=0.5 if reconnect else 0.1,
        error_cb=_quiet,
    )


class NatsHub(BrokerHub):
    kind = "nats"
    block: NatsSurface

    def __init__(self, block: NatsSurface, timeout: float) -> None:
        super().__init__(block, timeout)
        require("nats", "surfaces", "surface: nats")
        self._nc: Any = None
        self._js: Any = None

    @property
    def acks(self) -> bool:
        return self.block.jetstream is not None and self.block.publish is not None

    async def _open(self) -> None:
        block = self.block
        self._nc = await connect_nats(block.url, self.timeout, reconnect=True)

        async def on_output(msg: Any) -> None:
            self.arrived(_correlation(msg), msg.data)

        async def on_dead(msg: Any) -> None:
            self.dead(_correlation(msg))

        await self._nc.subscribe(block.consume.subject, cb=on_output, pending_msgs_limit=1_000_000)
        if block.dead_letter is not None:
            await self._nc.subscribe(block.dead_letter.subject, cb=on_dead)
        await self._nc.flush()
        if block.jetstream is not None:
            self._js = self._nc.jetstream()

    async def _publish(self, correlation: str, body: bytes, headers: dict[str, str]) -> None:
        block = self.block
        assert block.publish is not None, "a step that only consumes never publishes"
        sent_headers = {**headers, CORRELATION_HEADER: correlation}
        if self._js is not None:
            assert block.jetstream is not None
            await self._js.publish(
                block.publish.subject,
                body,
                timeout=self.timeout,
                stream=block.jetstream.stream,
                headers=sent_headers,
            )
        else:
            await self._nc.publish(block.publish.subject, body, headers=sent_headers)

    async def _depth_now(self) -> dict[str, float]:
        spec = self.block.jetstream
        if self._js is None or spec is None:
            return {}
        if spec.consumer is not None:
            info = await self._js.consumer_info(spec.stream, spec.consumer)
            return {f"{spec.stream}/{spec.consumer}": float(info.num_pending + info.num_ack_pending)}
        info = await self._js.stream_info(spec.stream)
        return {spec.stream: float(info.state.messages)}

    async def _close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()


async def probe_nats(block: NatsSurface, timeout: float) -> None:
    """Connect (and find the JetStream stream); raises ConnectionError or LookupError(field, name)."""
    try:
        nc = await connect_nats(block.url, timeout, reconnect=False)
    except Exception as exc:
        raise ConnectionError(failure_text(exc)) from None
    try:
        if block.jetstream is not None:
            js = nc.jetstream()
            try:
                await js.stream_info(block.jetstream.stream)
            except Exception:
                raise LookupError("nats.jetstream.stream", block.jetstream.stream) from None
            if block.jetstream.consumer is not None:
                try:
                    await js.consumer_info(block.jetstream.stream, block.jetstream.consumer)
                except Exception:
                    raise LookupError("nats.jetstream.consumer", block.jetstream.consumer) from None
    finally:
        await nc.close()
