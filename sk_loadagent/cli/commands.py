"""The run and plan commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sk_loadagent.cli.ci import edition_runs, finish, junit_path
from sk_loadagent.cli.dashboard import live_view_wanted, start_live_view
from sk_loadagent.cli.progress import ProgressPrinter
from sk_loadagent.cli.report import reasons_block, steps_tables, suite_line, summary_table
from sk_loadagent.engine import Progress, RunOptions, machine_caps
from sk_loadagent.errors import InputError, MemoryStoreError, StoreUnavailableError, root_cause
from sk_loadagent.memory import MemoryStore, open_store_for_run
from sk_loadagent.models.caps import Caps, parse_cap
from sk_loadagent.models.context import RunContext
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish.ci import ScopeResult
from sk_loadagent.publish.outdir import OutputFolder
from sk_loadagent.secrets import mask_text
from sk_loadagent.suite.gate import GateDecision, decide_gate, gated_tests

ProgressCallback = Callable[[str, Progress], None]

if TYPE_CHECKING:
    from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase

    from sk_loadagent.cluster import RayPlacement
    from sk_loadagent.planners.agent import SuiteRequest


def caps_from(args: argparse.Namespace) -> Caps:
    """This machine's caps for the run's worker processes, with the ``--cap`` overrides."""
    overrides = dict(parse_cap(text) for text in args.cap)
    return machine_caps(getattr(args, "workers", None)).with_overrides(overrides)


def suite_request(args: argparse.Namespace, caps: Caps | None = None) -> SuiteRequest:
    from sk_loadagent.planners.agent import SuiteRequest

    return SuiteRequest(
        plan=args.plan,
        thresholds=list(args.thresholds),
        metadata=args.metadata,
        editions=args.editions,
        annotations=args.annotations,
        weighting=getattr(args, "weighting", None),
        baseline=args.baseline,
        trace_plan=args.trace_plan,
        observability=getattr(args, "observability", None),
        target_url=args.target_url,
        allow_hosts=list(args.allow_host),
        caps=caps,
        ca_file=args.ca_file,
        insecure=args.insecure,
        warn_on_regression=bool(getattr(args, "warn_on_regression", False)),
        retry_on_flakiness=bool(getattr(args, "retry_on_flakiness", False)),
    )


def print_outcome(
    metrics: PerfMetrics, gate: GateDecision, artifacts: dict[str, str], explanation: str | None = None
) -> None:
    parts = ["\n" + summary_table(metrics) + "\n\n"]
    steps = steps_tables(metrics)
    if steps:
        parts.append(steps + "\n\n")
    if explanation:
        parts.append("Explanation:\n  " + explanation.replace("\n", "\n  ") + "\n\n")
    reasons = reasons_block(metrics)
    if reasons:
        parts.append("Why:\n" + reasons + "\n\n")
    parts.append(suite_line(metrics) + "\n")
    verdict = "PASSED" if gate.passed else "FAILED"
    parts.append(f"Gate: {verdict}" + (f" ({'; '.join(gate.reasons)})" if gate.reasons else "") + "\n")
    if artifacts:
        parts.append("Artifacts: " + ", ".join(sorted(artifacts.values())) + "\n")
    sys.stdout.write(mask_text("".join(parts)))
    sys.stdout.flush()


def explain_service(args: argparse.Namespace) -> ChatCompletionClientBase | None:
    """The chat service for --explain, from the environment; without one the run goes on unexplained."""
    if not args.explain:
        return None
    from sk_loadagent.prompts import NO_SERVICE_LINE, ChatServiceConfigError, chat_service_from_env

    try:
        service = chat_service_from_env()
    except ChatServiceConfigError as exc:
        print(f"--explain: {exc}", file=sys.stderr)
        return None
    if service is None:
        print(NO_SERVICE_LINE, file=sys.stderr)
    return service


async def run_command(args: argparse.Namespace, memory: str) -> int:
    """One run, or with --edition-override one per edition; the CI outputs and the exit code cover all."""
    caps = caps_from(args)
    chat_service = explain_service(args)
    request = suite_request(args, caps)
    junit = junit_path(args.junit)
    scopes = edition_runs(args, caps)
    results: list[ScopeResult] = []
    placement = _placement(args)
    live = await start_live_view(args) if live_view_wanted(args) else None
    ended = "stopped before finishing"
    try:
        for edition, out in scopes:
            if len(scopes) > 1:
                print(f"\n== Edition {edition} (--out {out}) ==", flush=True)
            feed = live.feed if live is not None else None
            results.append(
                await _run_scope(args, memory, request, chat_service, edition, out, feed, placement)
            )
        ended = "gate passed" if all(r.passed for r in results) else "gate failed"
    except BaseException:
        if junit is not None:
            junit.unlink(missing_ok=True)  # an earlier run's file must not pass for this run's result
        raise
    finally:
        if live is not None:
            await live.stop(ended)
        if placement is not None:
            from sk_loadagent.cluster import disconnect

            disconnect(placement)
    return finish(results, junit)


def _placement(args: argparse.Namespace) -> RayPlacement | None:
    """--cluster (or RAY_ADDRESS): the workers' placement on that Ray cluster; Ray is imported only then."""
    address = args.cluster or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        for flag, given in (
            ("--cluster-workers", args.cluster_workers),
            ("--tolerate-node-loss", args.tolerate_node_loss),
        ):
            if given:
                raise InputError.single(
                    "command line", flag, "--cluster ray://HOST:PORT (or RAY_ADDRESS) with it"
                )
        return None
    from sk_loadagent.cluster import connect

    return connect(address, workers=args.cluster_workers, tolerate_node_loss=args.tolerate_node_loss)


async def _run_scope(
    args: argparse.Namespace,
    memory: str,
    request: SuiteRequest,
    chat_service: ChatCompletionClientBase | None,
    edition: str | None,
    out: Path,
    live: ProgressCallback | None = None,
    placement: RayPlacement | None = None,
) -> ScopeResult:
    """The suite run for one edition (None: the plan's or --edition's) into ``out``, judged and printed."""
    from sk_loadagent.planners.agent import run_suite

    store: MemoryStore | None = None
    printer = None if args.quiet else ProgressPrinter()
    context = RunContext(
        trace_id=args.trace_id,
        edition_id=edition,
        module_id=args.module,
        source_agent=args.source_agent,
        memory_compare=not args.no_memory_compare,
    )
    # Claimed before the store opens and any load is sent: an unwritable or busy --out is exit 2, and a run
    # that fails from here on leaves no earlier artifact there to be taken for its result.
    output = OutputFolder.claim(out)
    try:
        # Before any load: a store that is no store is bad input (2); one that does not answer, exit 4.
        store = None if args.no_memory else open_store_for_run(memory)
        outcome = await run_suite(
            request,
            context,
            store=store,
            out_dir=output,
            options=RunOptions(
                workers=args.workers,
                transport=args.transport,
                allow_hosts=tuple(args.allow_host),
                placement=placement,
            ),
            target_pid=args.target_pid,
            progress=_both(printer, live),
            max_retries=args.max_retries,
            retry_cooldown=args.retry_cooldown,
            retry_budget=args.retry_budget,
            chat_service=chat_service,
            explain=chat_service is not None,
            report=not args.no_report,
        )
    except BaseException as exc:
        output.abandon()
        failure = _store_failure(exc) if store is not None else None
        if failure is None:
            raise
        raise failure from exc
    finally:
        output.release()
        if printer is not None:
            printer.close()
        if store is not None:
            store.close()
    gate = decide_gate(outcome.metrics, min_score=args.min_score, fail_on_degraded=args.fail_on_degraded)
    for note in outcome.plan_notes:
        print(f"Plan: {note}")
    tests = gated_tests(outcome.metrics, min_score=args.min_score, fail_on_degraded=args.fail_on_degraded)
    print_outcome(outcome.metrics, gate, outcome.artifacts, outcome.explanation)
    if outcome.explanation_note:
        print(f"--explain: no explanation: {outcome.explanation_note}", file=sys.stderr)
    return ScopeResult(outcome.metrics, tests, gate.passed, list(gate.reasons))


def _both(printer: ProgressPrinter | None, live: ProgressCallback | None) -> ProgressCallback | None:
    """The terminal's progress and the live view's, from the one callback the engine calls."""
    if printer is None or live is None:
        return printer or live

    def each(label: str, progress: Progress) -> None:
        printer(label, progress)
        live(label, progress)

    return each


def _store_failure(exc: BaseException) -> StoreUnavailableError | None:
    """A store that opened and passed the checks above, then failed: the agent's failure, not bad input."""
    cause = root_cause(exc)
    if isinstance(cause, MemoryStoreError) and not isinstance(cause, StoreUnavailableError):
        return StoreUnavailableError(f"memory store failed during the run: {cause}")
    return None


def plan_command(args: argparse.Namespace) -> int:
    from sk_loadagent.planners.chain import plan_chain
    from sk_loadagent.suite.execution_plan import interpret, tls_from_command_line
    from sk_loadagent.suite.inputs import load_inputs

    caps = caps_from(args)
    inputs = load_inputs(
        args.plan,
        thresholds=args.thresholds,
        metadata=args.metadata,
        editions=args.editions,
        annotations=args.annotations,
        weighting=args.weighting,
        baseline=args.baseline,
        caps=caps,
        trace_plan=args.trace_plan,
        observability=getattr(args, "observability", None),
    )
    plan = interpret(
        inputs,
        target_url=args.target_url,
        trace_id=args.trace_id,
        edition_id=args.edition,
        module_id=args.module,
        allow_hosts=args.allow_host,
        caps=caps,
        tls=tls_from_command_line(args.ca_file, args.insecure),
    )
    if args.json:
        print(mask_text(json.dumps(plan.to_wire(), indent=2)))
        return 0
    context = RunContext(trace_id=plan.trace_id, edition_id=plan.edition_id, module_id=plan.module_id)
    chain = plan_chain(
        context, memory_enabled=True, baseline_file=bool(args.baseline), max_retries=plan.max_retries
    )
    lines = [
        f"Execution plan {plan.trace_id}: {plan.module_id} / {plan.edition_id or '-'} at {plan.base_url}"
    ]
    lines += [f"  note: {note}" for note in plan.notes]
    for test in plan.tests:
        gated = "" if not test.exclude_from_gate else " (not gated)"
        route = f"{test.method} {test.endpoint}" if test.method else test.endpoint
        lines.append(f"  [{test.index}] {route} {test.test_type}{gated}: {test.profile}")
    lines.append("Skill chain:")
    lines.append("  " + chain.describe().replace("\n", "\n  "))
    print(mask_text("\n".join(lines)))
    return 0
