"""``sk-loadagent agent "…"``: a chat model plans, runs and judges load tests through the LoadAgent plugin,
inside the limits given here. Without a chat service it falls back to the deterministic designer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sk_loadagent.cli.session_args import add_session_arguments, session_config

if TYPE_CHECKING:
    from sk_loadagent.memory import MemoryStore

# The parser is built for every command: what only this command needs is imported when it runs.

NO_SERVICE = (
    "sk-loadagent agent: no chat service (set OPENAI_API_KEY and OPENAI_CHAT_MODEL_ID, or "
    "AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and AZURE_OPENAI_CHAT_DEPLOYMENT_NAME): falling back to the "
    "deterministic designer, which designs a plan and runs nothing"
)


def add_agent_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help="what to test, in words")
    add_session_arguments(p, out="perf/agent", budget_seconds=300.0, max_calls=12)


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
    from sk_loadagent.memory import open_store
    from sk_loadagent.prompts import chat_service_from_env

    service = chat_service_from_env()
    store = None if args.no_memory else open_store(memory)
    try:
        if service is None:
            return _fallback(args, store)
        config = session_config(args, store)
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
