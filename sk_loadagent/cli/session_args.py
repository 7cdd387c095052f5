"""The host-side options of a session (``agent``, ``mcp``, ``listen``): the service's files, the target, the
allow-list, memory, where artifacts go, and the budget. A model or a client never sets these."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sk_loadagent.agent.session import AgentConfig
    from sk_loadagent.memory import MemoryStore


def positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: a number greater than 0."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text}")
        return value

    return parse


def at_least_zero(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more, got {text}")
    return value


def retries(text: str) -> int:
    """An argparse type: retries per run, 0 to 10 (as a plan's maxRetries)."""
    if not text.isdigit() or int(text) > 10:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 10, got {text!r}")
    return int(text)


def add_session_arguments(
    p: argparse.ArgumentParser, *, out: str, budget_seconds: float, max_calls: int | None
) -> None:
    """The options; without ``max_calls`` (a listener makes no tool calls) there is no --max-calls."""
    p.add_argument("--openapi", metavar="F", help="the service's OpenAPI 3 document (to design from)")
    p.add_argument("--metadata", metavar="M", help="service.metadata.yaml")
    p.add_argument("--editions", metavar="E", help="edition.config.json")
    p.add_argument("--edition", metavar="ID", help="edition to design and run for")
    p.add_argument("--annotations", metavar="A", help="studio.annotation.yaml")
    p.add_argument("--thresholds", action="append", default=[], metavar="T", help="perf-thresholds.yaml")
    p.add_argument("--target-url", metavar="URL", help="base URL of the service under test")
    p.add_argument(
        "--allow-host", action="append", default=[], metavar="HOST", help="allow a non-loopback host"
    )
    p.add_argument("--memory", metavar="URL", help="memory store (as for run)")
    p.add_argument("--no-memory", action="store_true", help="neither compare with nor store to memory")
    p.add_argument("--out", default=out, metavar="DIR", help=f"artifacts, one folder per run (default {out})")
    p.add_argument(
        "--budget-seconds",
        type=positive(float),
        default=budget_seconds,
        metavar="S",
        help=f"seconds of scheduled load in all ({budget_seconds:g})",
    )
    p.add_argument(
        "--max-rps", type=positive(float), default=500.0, metavar="R", help="peak rate of a run (500)"
    )
    p.add_argument("--max-vus", type=positive(int), default=100, metavar="N", help="sessions of a run (100)")
    if max_calls is not None:
        p.add_argument(
            "--max-calls",
            type=positive(int),
            default=max_calls,
            metavar="N",
            help=f"tool calls in all ({max_calls})",
        )
    p.add_argument("--max-retries", type=retries, default=0, metavar="N", help="retries per run, 0 to 10 (0)")
    p.add_argument("--workers", type=int, metavar="N", help="load generator processes (default: all cores)")
    p.add_argument("--transport", choices=["auto", "fast", "httpx"], default="auto", help="HTTP client")


def session_config(args: argparse.Namespace, store: MemoryStore | None) -> AgentConfig:
    from sk_loadagent.agent.session import AgentConfig, Budget
    from sk_loadagent.engine import RunOptions

    return AgentConfig(
        openapi=args.openapi,
        metadata=args.metadata,
        editions=args.editions,
        annotations=args.annotations,
        thresholds=list(args.thresholds),
        edition=args.edition,
        target_url=args.target_url,
        allow_hosts=tuple(args.allow_host),
        store=store,
        out_dir=Path(args.out),
        options=RunOptions(
            workers=args.workers, transport=args.transport, allow_hosts=tuple(args.allow_host)
        ),
        max_retries=args.max_retries,
        budget=Budget(
            load_seconds=args.budget_seconds,
            peak_rps=args.max_rps,
            vus=args.max_vus,
            calls=getattr(args, "max_calls", 0),
        ),
    )
