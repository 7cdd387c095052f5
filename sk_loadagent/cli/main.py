"""sk-loadagent: run, plan, design, agent, mcp, listen, history, dashboard and demo.

Exit codes: 0 the gate passed, 1 the gate failed, 2 bad input, 3 the target could not be reached at all,
4 the agent itself failed (a load worker died or hung, the memory store is unreachable or refused, the disk
is full, or a bug), 130 interrupted (SIGINT), 143 terminated (SIGTERM). Each prints one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from sk_loadagent.errors import AgentFailure, InputError, LoadAgentError, root_cause
from sk_loadagent.secrets import mask_text

DEFAULT_MEMORY = ".sk-loadagent/memory.sqlite"
MEMORY_ENV = "SK_LOADAGENT_MEMORY"
DEBUG_ENV = "SK_LOADAGENT_DEBUG"  # set to 1: an agent failure prints its traceback after the line
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plan", required=True, help="test-suite.plan.yaml")
    p.add_argument(
        "--thresholds", action="append", default=[], metavar="T", help="perf-thresholds.yaml (repeatable)"
    )
    p.add_argument("--metadata", metavar="M", help="service.metadata.yaml")
    p.add_argument("--editions", metavar="E", help="edition.config.json")
    p.add_argument("--annotations", metavar="A", help="studio.annotation.yaml")
    p.add_argument("--weighting", metavar="W", help="customWeighting.yaml")
    p.add_argument("--baseline", metavar="B", help="perf-baseline.memory.json (a seed baseline)")
    p.add_argument(
        "--trace-plan", metavar="FILE", help="trace.plan.yaml: add one flow test per trace path (flow) of it"
    )
    p.add_argument(
        "--observability",
        metavar="FILE",
        help="observability.config.yaml: trace context on requests, spans in (OTLP), Prometheus scrapes",
    )
    p.add_argument("--trace-id", metavar="ID", help="trace scope of the run (default: from the plan)")
    p.add_argument("--edition", metavar="ID", help="edition id that overrides the plan's editionId")
    p.add_argument("--module", metavar="ID", help="module id that overrides the plan's moduleId")
    p.add_argument("--target-url", metavar="URL", help="base URL that overrides the plan's baseUrl")
    p.add_argument(
        "--allow-host", action="append", default=[], metavar="HOST", help="allow a non-loopback target host"
    )
    p.add_argument(
        "--cap",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set one cap (repeatable): memory=SIZE, connections=N, duration=DURATION, body=SIZE, values=N, "
        "file=SIZE, or NAME=off",
    )
    p.add_argument(
        "--ca-file",
        metavar="FILE",
        help="PEM file of the CA certificates that an https:// target's must chain to",
    )
    p.add_argument(
        "--insecure", action="store_true", help="skip certificate verification (written into the artifacts)"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def _score(text: str) -> float:
    """A --min-score: a performanceScore between 0 and 1 (a typo like 85 would fail every run)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a score between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a score between 0 and 1, got {text}")
    return value


def _seconds(text: str) -> float:
    """A --retry-cooldown or --retry-budget: a duration as plans write them (10s, 2m, or seconds)."""
    from sk_loadagent.models.durations import parse_duration  # pydantic stays out of `--help`

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected {exc}, got {text!r}") from None


def _add_cluster_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cluster",
        metavar="ray://HOST:PORT",
        help="run the load workers as Ray actors across this cluster's nodes (default: $RAY_ADDRESS; "
        "needs the ray extra)",
    )
    p.add_argument(
        "--cluster-workers",
        type=_positive_int,
        metavar="N",
        help="workers on the cluster (default: one per CPU)",
    )
    p.add_argument(
        "--tolerate-node-loss",
        action="store_true",
        help="carry on when a node dies or hangs, and report the share of the load that is missing",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--memory",
        metavar="URL",
        help=f"memory store: a path (SQLite), a .json file, sqlite://, postgresql:// (default: ${MEMORY_ENV} "
        f"or {DEFAULT_MEMORY})",
    )
    p.add_argument("--no-memory", action="store_true", help="neither compare with nor store to memory")
    p.add_argument("--no-memory-compare", action="store_true", help="store the run but skip the comparison")
    p.add_argument("--out", default="perf", metavar="DIR", help="artifact directory (default: ./perf)")
    p.add_argument("--workers", type=int, metavar="N", help="load generator processes (default: all cores)")
    p.add_argument("--transport", choices=["auto", "fast", "httpx"], default="auto", help="HTTP client")
    p.add_argument("--target-pid", type=int, metavar="PID", help="pid of the target, for CPU/memory sampling")
    p.add_argument("--min-score", type=_score, metavar="X", help="fail the gate below this performanceScore")
    p.add_argument(
        "--fail-on-degraded",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a degraded test fails the gate (default: yes)",
    )
    p.add_argument(
        "--max-retries", type=int, default=3, metavar="N", help="retry attempts per run (default 3)"
    )
    p.add_argument(
        "--retry-cooldown",
        type=_seconds,
        metavar="S",
        help="pause before each retry (default 10s, none before a warm start; shortened to fit the budget)",
    )
    p.add_argument(
        "--retry-budget",
        type=_seconds,
        metavar="S",
        help="time all retries may take, cool-downs included (default: as long as the first attempt)",
    )
    p.add_argument("--source-agent", metavar="NAME", help="agent that triggered this run")
    p.add_argument(
        "--explain",
        action="store_true",
        help="add an LLM-written explanation of the result (needs OPENAI_API_KEY and OPENAI_CHAT_MODEL_ID, "
        "or AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and AZURE_OPENAI_CHAT_DEPLOYMENT_NAME)",
    )
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.add_argument(
        "--dashboard",
        action="store_true",
        help="serve a live view of the run on 127.0.0.1 (rps, p95, errors, in-flight, progress each second); "
        "it stops with the run (extra: dashboard)",
    )
    p.add_argument(
        "--dashboard-port",
        type=int,
        metavar="P",
        help="port of the live view (default: a free one; implies --dashboard)",
    )
    p.add_argument("--no-report", action="store_true", help="do not write report.html under --out")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML file: one testcase per test")
    p.add_argument(
        "--warn-on-regression",
        action="store_true",
        help="a regression against the baseline warns and does not fail the gate (limits still do)",
    )
    p.add_argument(
        "--edition-override",
        action="store_true",
        help="run once per edition of --editions that covers the module, each into --out/<edition>/, "
        "and gate on all of them",
    )
    p.add_argument(
        "--retry-on-flakiness",
        action="store_true",
        help="retry a degraded or failed test once more (the pipeline's retryOnFail for every test)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sk-loadagent", description="Design, run and judge load tests; gate CI on the verdict."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a test suite and gate on its verdict")
    _add_inputs(run)
    _add_run_options(run)
    _add_cluster_options(run)
    run.set_defaults(handler=cmd_run)

    plan = sub.add_parser("plan", help="show the execution plan and the skill chain without sending load")
    _add_inputs(plan)
    plan.add_argument("--json", action="store_true", help="print the execution plan as JSON")
    plan.set_defaults(handler=cmd_plan)

    history = sub.add_parser("history", help="list stored runs, baselines and change points")
    history.add_argument("--memory", metavar="URL", help="memory store (as for run)")
    history.add_argument("--module", metavar="M")
    history.add_argument("--edition", metavar="E")
    history.add_argument("--test-type", metavar="T")
    history.add_argument("--json", action="store_true", help="a JSON list of perf-metrics summaries")
    history.set_defaults(handler=cmd_history)

    from sk_loadagent.cli.design import add_design_arguments

    design = sub.add_parser(
        "design", help="design a test-suite plan from OpenAPI and service metadata (no LLM)"
    )
    add_design_arguments(design)
    design.set_defaults(handler=cmd_design)

    from sk_loadagent.cli.agent import add_agent_arguments

    agent = sub.add_parser("agent", help="let a chat model plan, run and judge load tests, within set limits")
    add_agent_arguments(agent)
    agent.set_defaults(handler=cmd_agent)

    from sk_loadagent.cli.mcp import add_mcp_arguments

    mcp = sub.add_parser("mcp", help="serve the skills and the LoadAgent plugin over MCP (stdio or HTTP)")
    add_mcp_arguments(mcp)
    mcp.set_defaults(handler=cmd_mcp)

    from sk_loadagent.cli.listen import add_listen_arguments

    listen = sub.add_parser("listen", help="run the suites other agents' events call for (NATS or RabbitMQ)")
    add_listen_arguments(listen)
    listen.set_defaults(handler=cmd_listen)

    from sk_loadagent.cli.dashboard import add_dashboard_arguments

    dashboard = sub.add_parser(
        "dashboard", help="serve the Studio dashboard over a memory store on loopback (extra: dashboard)"
    )
    add_dashboard_arguments(dashboard)
    dashboard.set_defaults(handler=cmd_dashboard)

    demo = sub.add_parser("demo", help="run the bundled sample service: a baseline, then a slowed release")
    demo.add_argument("--out", default="perf", metavar="DIR", help="artifact directory (default: ./perf)")
    demo.add_argument(
        "--workers", type=int, default=1, metavar="N", help="load generator processes (default 1)"
    )
    demo.add_argument(
        "--surfaces",
        action="store_true",
        help="the surfaces beyond HTTP instead: WebSocket feed, webhooks, report jobs, RabbitMQ worker",
    )
    demo.set_defaults(handler=cmd_demo)
    return parser


def memory_url(value: str | None) -> str:
    return value or os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY


def cmd_run(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.commands import run_command

    return asyncio.run(run_command(args, memory_url(args.memory)))


def cmd_plan(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.commands import plan_command

    return plan_command(args)


def cmd_history(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.history import history_command

    return history_command(args, memory_url(args.memory))


def cmd_dashboard(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.dashboard import dashboard_command

    return dashboard_command(args, memory_url(args.memory))


def cmd_design(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.design import design_command

    return design_command(args)


def cmd_agent(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.agent import agent_command

    return asyncio.run(agent_command(args, memory_url(args.memory)))


def cmd_mcp(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.mcp import mcp_command

    return asyncio.run(mcp_command(args, memory_url(args.memory)))


def cmd_listen(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.listen import listen_command

    return asyncio.run(listen_command(args, memory_url(args.memory)))


def cmd_demo(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.demo import demo_command, demo_surfaces_command

    return asyncio.run(demo_surfaces_command(args) if args.surfaces else demo_command(args))


def _report_error(exc: BaseException) -> int:
    """One line on stderr for anything that ends a command, and its exit code (see the module docstring)."""
    cause = root_cause(exc)
    if isinstance(cause, LoadAgentError):
        print(mask_text(f"sk-loadagent: {_kind(cause)}: {cause}"), file=sys.stderr)
        return cause.exit_code
    if isinstance(cause, OSError) and cause.errno in _DISK_ERRORS:
        where = f" {cause.filename}" if cause.filename else " to disk"
        print(f"sk-loadagent: agent failure: cannot write{where}: {cause.strerror}", file=sys.stderr)
    else:
        # A bug, or a failure nobody foresaw: still one line, and the agent's own exit code.
        text = str(cause).splitlines()[0] if str(cause) else ""
        hint = "" if os.environ.get(DEBUG_ENV) else f" (set {DEBUG_ENV}=1 for the traceback)"
        detail = f"{type(cause).__name__}: {text}" if text else type(cause).__name__
        print(mask_text(f"sk-loadagent: agent failure: {detail}{hint}"), file=sys.stderr)
    if os.environ.get(DEBUG_ENV):
        sys.stderr.write(mask_text("".join(traceback.format_exception(exc))))
    return AgentFailure.exit_code


def _kind(error: LoadAgentError) -> str:
    if error.exit_code == InputError.exit_code:
        return "bad input"
    return "agent failure" if error.exit_code == AgentFailure.exit_code else "error"


class _Stop:
    """Which signal stopped the command: SIGTERM is turned into the SIGINT path, and remembered here."""

    signal: int | None = None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM does what Ctrl-C does: inside ``asyncio.run`` its SIGINT handler cancels the main task, so
    every ``finally`` runs (workers stopped, store closed); elsewhere a KeyboardInterrupt unwinds the stack.
    """
    _Stop.signal = signal.SIGTERM
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    _Stop.signal = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave signals to whoever owns it
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted() -> int:
    if _Stop.signal == signal.SIGTERM:
        print("sk-loadagent: terminated (SIGTERM): stopped before finishing", file=sys.stderr)
        return EXIT_TERMINATED
    print("sk-loadagent: interrupted (SIGINT): stopped before finishing", file=sys.stderr)
    return EXIT_INTERRUPTED


def _quiet_semantic_kernel() -> None:
    """Semantic Kernel logs every failing function at ERROR. With no logging configured, Python's last-resort
    handler prints each of those to stderr, so one bad input would be reported three times; the CLI reports
    errors itself. Logging a user configures (a root handler) still receives them."""
    logger = logging.getLogger("semantic_kernel")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    _quiet_semantic_kernel()
    with _sigterm_as_interrupt():
        try:
            return handler(args)
        except KeyboardInterrupt:
            return _interrupted()
        except BrokenPipeError:
            # The reader went away (`sk-loadagent plan | head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        except Exception as exc:
            return _report_error(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
