"""``sk-loadagent listen --bus nats://… | amqp://…``: run the suites other agents' events call for, and
publish what was found (spec cycle 12). SIGTERM or SIGINT stop it: runs in progress get ``--drain-seconds``
to finish, then are abandoned cleanly."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from sk_loadagent.cli.session_args import add_session_arguments, at_least_zero, positive, session_config

DEFAULT_LEDGER = ".sk-loadagent/events.json"


def add_listen_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bus", required=True, metavar="URL", help="nats://host:4222 or amqp://user:pass@host:5672/"
    )
    p.add_argument(
        "--subject",
        default="sk-loadagent.events",
        metavar="NAME",
        help="the NATS subject or AMQP queue consumed",
    )
    p.add_argument("--plans", required=True, metavar="DIR", help="the folder an event's planRef is read from")
    p.add_argument(
        "--ledger", default=DEFAULT_LEDGER, metavar="FILE", help=f"handled eventIds ({DEFAULT_LEDGER})"
    )
    p.add_argument("--concurrency", type=positive(int), default=1, metavar="N", help="runs at once (1)")
    p.add_argument(
        "--drain-seconds",
        type=at_least_zero,
        default=30.0,
        metavar="S",
        help="at shutdown, how long runs may finish (30)",
    )
    p.add_argument(
        "--max-wait",
        type=at_least_zero,
        default=300.0,
        metavar="S",
        help="longest wait for a chaos fault to end (300)",
    )
    add_session_arguments(p, out="perf/listen", budget_seconds=600.0, max_calls=None)


def _report(line: str) -> None:
    print(f"sk-loadagent listen: {line}", flush=True)


async def listen_command(args: argparse.Namespace, memory: str) -> int:
    from sk_loadagent.agent.buses import open_bus
    from sk_loadagent.agent.ledger import EventLedger
    from sk_loadagent.agent.listener import Listener, ListenerConfig
    from sk_loadagent.errors import InputError
    from sk_loadagent.memory import open_store

    plans = Path(args.plans)
    if not plans.is_dir():
        raise InputError.single("--plans", args.plans, "a folder of plan files", "no folder there")
    ledger = EventLedger(args.ledger)
    store = None if args.no_memory else open_store(memory)
    try:
        bus = await open_bus(args.bus, args.subject, args.concurrency)
        config = ListenerConfig(
            session=session_config(args, store),
            plans_dir=plans,
            ledger=ledger,
            concurrency=args.concurrency,
            drain_seconds=args.drain_seconds,
            max_wait_seconds=args.max_wait,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await Listener(config, bus, _report).run(stop)
        _report("stopped")
        sys.stdout.flush()
        return 0
    finally:
        if store is not None:
            store.close()
