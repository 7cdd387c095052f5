"""The services behind the dead-brokers part's brokers, run as a child process: ``python
_engine_broker_echoes.py amqp|nats|redis --state FILE --names IN,OUT`` reads IN on the local broker and
answers each message on OUT with its correlation id copied (AMQP ``correlation_id``, the NATS header and the
Redis field ``x-correlation-id``), as a service the surfaces load does. It writes ``PORT T0`` (the broker's
port) to ``--state`` once it reads, and deletes the queues or streams it used when SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

BROKER_PORTS = {"amqp": 5672, "nats": 4222, "redis": 6379}
CORRELATION = "x-correlation-id"


async def _amqp_echo(inq: str, outq: str, ready: Callable[[], None]) -> None:
    import aio_pika

    connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{BROKER_PORTS['amqp']}/")
    channel = await connection.channel()
    queue = await channel.declare_queue(inq)
    await channel.declare_queue(outq)

    async def answer(message: Any) -> None:
        await channel.default_exchange.publish(
            aio_pika.Message(message.body, correlation_id=message.correlation_id), routing_key=outq
        )

    await queue.consume(answer, no_ack=True)
    ready()
    try:
        await _until_stopped()
    finally:
        await channel.queue_delete(inq)
        await channel.queue_delete(outq)
        await connection.close()


async def _nats_echo(insubj: str, outsubj: str, ready: Callable[[], None]) -> None:
    import nats

    nc = await nats.connect(f"nats://127.0.0.1:{BROKER_PORTS['nats']}")

    async def answer(msg: Any) -> None:
        await nc.publish(outsubj, msg.data, headers=msg.headers)

    await nc.subscribe(insubj, cb=answer)
    await nc.flush()
    ready()
    try:
        await _until_stopped()
    finally:
        await nc.close()


async def _redis_echo(instream: str, outstream: str, ready: Callable[[], None]) -> None:
    import redis.asyncio as redis

    client = redis.from_url(f"redis://127.0.0.1:{BROKER_PORTS['redis']}/0")
    last = b"0-0"  # a stream of its own, new: everything in it is for this echo
    ready()
    try:
        reading = asyncio.get_running_loop().create_task(_until_stopped())
        while not reading.done():
            for _name, entries in await client.xread({instream: last}, block=200) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    answer = {
                        CORRELATION: fields.get(CORRELATION.encode(), b""),
                        "body": fields.get(b"body", b""),
                    }
                    await client.xadd(outstream, answer)
    finally:
        await client.delete(instream, outstream)
        await client.aclose()


async def _until_stopped() -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    await stop


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("broker", choices=tuple(BROKER_PORTS))
    parser.add_argument("--state", required=True)
    parser.add_argument(
        "--names", required=True, help="IN,OUT: the queue, subject or stream read and written"
    )
    args = parser.parse_args(argv)
    inname, outname = args.names.split(",")

    def ready() -> None:
        with open(args.state + ".tmp", "w") as out:
            out.write(f"{BROKER_PORTS[args.broker]} {time.monotonic()!r}\n")
        os.replace(args.state + ".tmp", args.state)

    echo = {"amqp": _amqp_echo, "nats": _nats_echo, "redis": _redis_echo}[args.broker]
    asyncio.run(echo(inname, outname, ready))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
