"""``sk-loadagent agent "…"``: a chat model plans, runs and judges load tests through the LoadAgent plugin,
inside the limits given here. Without a chat service it falls back to the deterministic designer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sk_loadagent.memory import MemoryStore

# The parser is built for every command: what only this command needs is imported when it runs.

NO_SERVICE = (
    "sk-loadagent agent: no chat service (set OPENAI_API_KEY and OPENAI_CHAT_MODEL_ID, or "
    "AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and AZURE_OPENAI_CHAT_DEPLOYMENT_NAME): falling back to the "
    "deterministic designer, which designs a plan and runs nothing"
)


def _positive(kind: type[int] | type[float]) -> argparse._ActionType:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text}")
        return value

    return parse


def add_agent_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help="what to test, in words")
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
    p.add_argument("--out", default="perf/agent", metavar="DIR", help="artifacts, one folder per run")
    p.add_argument(
        "--budget-seconds",
        type=_positive(float),
        default=300.0,
        metavar="S",
        help="load time per session (300)",
    )
    p.add_argument(
        "--max-rps", type=_positive(float), default=500.0, metavar="R", help="peak rate of a run (500)"
    )
    p.add_argument("--max-vus", type=_positive(int), default=100, metavar="N", help="sessions of a run (100)")
    p.add_argument(
        "--max-calls", type=_positive(int), default=12, metavar="N", help="tool calls per session (12)"
    )
    p.add_argument("--max-retries", type=int, default=0, metavar="N", help="retries per run (0)")
    p.add_argument("--workers", type=int, metavar="N", help="load generator processes (default: all cores)")
    p.add_argument("--transport", choices=["auto", "fast", "httpx"], default="auto", help="HTTP client")


def _fallback(args: argparse.Namespace, store: MemoryStore | None) -> int:
    from sk_loadagent.atomic import write_atomic
    from sk_loadagent.cli.design import design_from_args
    from sk_loadagent.errors import InputError

    print(NO_SERVICE, file=sys.stderr)
    if not args.openapi or not args.metadata:
        missing = "--openapi" if not args.openapi else "--metadata"
        raise InputError.single(
            "agent", missing, "a file to design from (without a chat service the agent only designs)", "none"
        )
    suite = design_from_args(args, store)
    path = Path(args.out) / "designed.plan.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, suite.to_yaml())
    print(f"Designed {path}: {len(suite.plan.tests)} test(s) for {suite.plan.module_id}")
    for designed in suite.tests:
        print(f"  {designed.test.label()}: {designed.test.method} {designed.test.endpoint}")
    print(
        f"Run it with: sk-loadagent run --plan {path}"
        + (f" --target-url {args.target_url}" if args.target_url else "")
    )
    return 0


async def agent_command(args: argparse.Namespace, memory: str) -> int:
    from sk_loadagent.agent.planner import describe_call, run_agent
    from sk_loadagent.agent.session import AgentConfig, Budget
    from sk_loadagent.engine import RunOptions
    from sk_loadagent.memory import open_store
    from sk_loadagent.prompts import chat_service_from_env

    service = chat_service_from_env()
    store = None if args.no_memory else open_store(memory)
    try:
        if service is None:
            return _fallback(args, store)
        config = AgentConfig(
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
                calls=args.max_calls,
            ),
        )
        reply = await run_agent(args.prompt, config, service)
    finally:
        if store is not None:
            store.close()
    for call in reply.calls:
        print(f"  tool: {describe_call(call)}")
    for run in reply.runs:
        score = "-" if run.metrics.performance_score is None else f"{run.metrics.performance_score:.2f}"
        gate = "passed" if run.gate_passed else "FAILED"
        print(f"{run.run_id}: {run.metrics.status} {score}, gate {gate} ({config.out_dir / run.run_id})")
    print(reply.text)
    return 0 if all(run.gate_passed for run in reply.runs) else 1
