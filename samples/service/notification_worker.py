"""The vet-clinic notification worker: consumes RabbitMQ, "sends" each notification, publishes the result.

It reads ``--in`` (default ``vetclinic.notifications.in``), waits one service time per message and publishes
``{"status": "sent", ...the message}`` to ``--out`` (default ``vetclinic.notifications.out``) with the
message's ``correlation_id`` copied, so sk-loadagent's ``surface: amqp`` test measures its end-to-end lag.
The service time follows the sample service's knobs for ``/notifications/send`` (``latencyMs``, ``jitter``,
``release`` and ``slowFactor``, read from ``--service``'s ``/admin/config`` every half second), so flipping
the service to the slow release slows the worker too. Up to ``--concurrency`` messages are in service at
once (prefetch). It declares both queues, prints ``READY`` once it consumes, and stops on SIGTERM or SIGINT.

Run: ``python samples/service/notification_worker.py --service http://127.0.0.1:8080``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import sys
from typing import Any
from urllib.parse import urlsplit

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
FOLLOW_EVERY_S = 0.5
KNOBS_OF = "/notifications/send"


class Knobs:
    """The service time the sample service's knobs give ``endpoint`` (as its ``for_endpoint`` does)."""

    def __init__(self, endpoint: str = KNOBS_OF) -> None:
        self.endpoint = endpoint
        self.latency_s = 0.02
        self.jitter = 0.3
        self.release = "stable"
        self.rng = random.Random(0)

    def follow(self, config: dict[str, Any]) -> None:
        knobs = {**config, **(config.get("endpoints") or {}).get(self.endpoint, {})}
        self.release = str(knobs.get("release", "stable"))
        factor = float(knobs.get("slowFactor", 3.0)) if self.release == "slow" else 1.0
        self.latency_s = float(knobs.get("latencyMs", 20.0)) * factor / 1000.0
        self.jitter = float(knobs.get("jitter", 0.3))

    def service_time(self) -> float:
        seconds = self.latency_s
        if self.jitter > 0 and seconds > 0:
            seconds *= math.exp(self.jitter * self.rng.gauss(0.0, 1.0))
        return seconds


async def follow(service: str, knobs: Knobs) -> None:
    """Keep ``knobs`` in step with the sample service's ``/admin/config``."""
    import httpx

    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                knobs.follow((await client.get(f"{service}/admin/config")).json())
            await asyncio.sleep(FOLLOW_EVERY_S)


async def _exit_with_parent(parent: int, stop: asyncio.Event) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    stop.set()


async def run(args: argparse.Namespace) -> int:
    import aio_pika

    host = urlsplit(args.amqp).hostname
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"notification_worker.py: error: --amqp must be a loopback broker, got {host}", file=sys.stderr)
        return 2
    knobs = Knobs()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    connection = await aio_pika.connect(args.amqp, timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=args.concurrency)
        inbox = await channel.declare_queue(args.inq)
        await channel.declare_queue(args.outq)
        follower = asyncio.create_task(follow(args.service, knobs)) if args.service else None

        async def handle(message: Any) -> None:
            async with message.process():
                await asyncio.sleep(knobs.service_time())
                try:
                    body = {**json.loads(message.body), "status": "sent"}
                except ValueError:
                    body = {"status": "sent"}
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        json.dumps(body).encode(),
                        correlation_id=message.correlation_id,
                        content_type="application/json",
                    ),
                    routing_key=args.outq,
                )

        await inbox.consume(handle)
        print("READY", flush=True)
        if args.exit_with_parent:
            parent = os.getppid()
            asyncio.create_task(_exit_with_parent(parent, stop))  # noqa: RUF006 (lives as long as the run)
        await stop.wait()
        if follower is not None:
            follower.cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp", default=DEFAULT_AMQP, help=f"the broker (default {DEFAULT_AMQP})")
    parser.add_argument(
        "--service", help="the sample service whose knobs to follow, e.g. http://127.0.0.1:8080"
    )
    parser.add_argument("--in", dest="inq", default="vetclinic.notifications.in")
    parser.add_argument("--out", dest="outq", default="vetclinic.notifications.out")
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process exits")
    parser.add_argument("--concurrency", type=int, default=64, help="messages in service at once")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
