"""sk-loadagent: run, plan, history and demo.

Exit codes: 0 the gate passed, 1 the gate failed, 2 bad input, 3 the target could not be reached at all.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence

from sk_loadagent.errors import InputError, LoadAgentError

DEFAULT_MEMORY = ".sk-loadagent/memory.sqlite"
MEMORY_ENV = "SK_LOADAGENT_MEMORY"


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
    p.add_argument("--trace-id", metavar="ID", help="trace scope of the run (default: from the plan)")
    p.add_argument("--edition", metavar="ID", help="edition id that overrides the plan's editionId")
    p.add_argument("--module", metavar="ID", help="module id that overrides the plan's moduleId")
    p.add_argument("--target-url", metavar="URL", help="base URL that overrides the plan's baseUrl")
    p.add_argument(
        "--allow-host", action="append", default=[], metavar="HOST", help="allow a non-loopback target host"
    )


def _score(text: str) -> float:
    """A --min-score: a performanceScore between 0 and 1 (a typo like 85 would fail every run)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a score between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a score between 0 and 1, got {text}")
    return value


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
        "--retry-cooldown", type=float, metavar="S", help="cap the cooldown before a retry (spec: 30-60 s)"
    )
    p.add_argument("--source-agent", metavar="NAME", help="agent that triggered this run")
    p.add_argument(
        "--explain",
        action="store_true",
        help="add an LLM-written explanation of the result (needs OPENAI_API_KEY and OPENAI_CHAT_MODEL_ID, "
        "or AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and AZURE_OPENAI_CHAT_DEPLOYMENT_NAME)",
    )
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.add_argument("--no-report", action="store_true", help="do not write report.html under --out")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML file: one testcase per test")
    p.add_argument(
        "--warn-on-regression",
        action="store_true",
        help="a regression against the baseline warns and does not fail the gate (limits still do)",
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

    demo = sub.add_parser("demo", help="run the bundled sample service: a baseline, then a slowed release")
    demo.add_argument("--out", default="perf", metavar="DIR", help="artifact directory (default: ./perf)")
    demo.add_argument(
        "--workers", type=int, default=1, metavar="N", help="load generator processes (default 1)"
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


def cmd_demo(args: argparse.Namespace) -> int:
    from sk_loadagent.cli.demo import demo_command

    return asyncio.run(demo_command(args))


def _report_error(exc: BaseException) -> int | None:
    from sk_loadagent.planners.step_log import root_cause

    cause = root_cause(exc)
    if isinstance(cause, LoadAgentError):
        kind = "bad input" if isinstance(cause, InputError) else "error"
        print(f"sk-loadagent: {kind}: {cause}", file=sys.stderr)
        return cause.exit_code
    return None


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
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("sk-loadagent: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`sk-loadagent plan | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        code = _report_error(exc)
        if code is None:
            raise
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
