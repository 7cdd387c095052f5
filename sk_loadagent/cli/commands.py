"""The run and plan commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sk_loadagent.cli.progress import ProgressPrinter
from sk_loadagent.cli.report import reasons_block, suite_line, summary_table
from sk_loadagent.engine import RunOptions, machine_caps
from sk_loadagent.errors import InputError, MemoryStoreError, StoreUnavailableError, root_cause
from sk_loadagent.memory import MemoryStore, open_store_for_run
from sk_loadagent.models.caps import Caps, parse_cap
from sk_loadagent.models.context import RunContext
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish.ci import (
    GatedTest,
    append_step_summary,
    azure_commands,
    ci_environment,
    github_annotations,
    step_summary,
    write_junit,
)
from sk_loadagent.publish.outdir import OutputFolder
from sk_loadagent.suite.gate import GateDecision, decide_gate, gated_tests

if TYPE_CHECKING:
    from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase

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
    out = sys.stdout
    out.write("\n" + summary_table(metrics) + "\n\n")
    if explanation:
        out.write("Explanation:\n  " + explanation.replace("\n", "\n  ") + "\n\n")
    reasons = reasons_block(metrics)
    if reasons:
        out.write("Why:\n" + reasons + "\n\n")
    out.write(suite_line(metrics) + "\n")
    verdict = "PASSED" if gate.passed else "FAILED"
    out.write(f"Gate: {verdict}" + (f" ({'; '.join(gate.reasons)})" if gate.reasons else "") + "\n")
    if artifacts:
        out.write("Artifacts: " + ", ".join(sorted(artifacts.values())) + "\n")
    out.flush()


def junit_path(value: str | None) -> Path | None:
    """The --junit file, checked before any load is sent: not a folder, in a folder this run can write."""
    if value is None:
        return None
    path = Path(value)
    if path.is_dir():
        raise InputError.single("--junit", value, "a file to write the JUnit XML to", "a folder")
    folder = next((p for p in path.absolute().parents if p.exists()), Path("/"))
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise InputError.single(
            "--junit", value, "a file in a folder this run can write to", f"{folder} is not writable"
        )
    return path


def ci_outputs(metrics: PerfMetrics, tests: list[GatedTest], gate: GateDecision) -> None:
    """The GitHub step summary and annotations, and Azure DevOps logging commands, where the run is."""
    summary_file, on_github, on_azure = ci_environment()
    if summary_file is not None:
        text = step_summary(metrics, tests, passed=gate.passed, gate_reasons=gate.reasons)
        try:
            append_step_summary(summary_file, text)
        except OSError as exc:
            print(
                f"sk-loadagent: GITHUB_STEP_SUMMARY: {summary_file}: not written ({exc.strerror})",
                file=sys.stderr,
            )
    lines = github_annotations(tests) if on_github else []
    lines += azure_commands(metrics, tests, passed=gate.passed) if on_azure else []
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
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
    from sk_loadagent.planners.agent import run_suite

    caps = caps_from(args)
    chat_service = explain_service(args)
    store: MemoryStore | None = None
    printer = None if args.quiet else ProgressPrinter()
    context = RunContext(
        trace_id=args.trace_id,
        edition_id=args.edition,
        module_id=args.module,
        source_agent=args.source_agent,
        memory_compare=not args.no_memory_compare,
    )
    request = suite_request(args, caps)
    junit = junit_path(args.junit)
    # Claimed before the store opens and any load is sent: an unwritable or busy --out is exit 2, and a run
    # that fails from here on leaves no earlier artifact there to be taken for its result.
    output = OutputFolder.claim(args.out)
    try:
        # Before any load: a store that is no store is bad input (2); one that does not answer, exit 4.
        store = None if args.no_memory else open_store_for_run(memory)
        outcome = await run_suite(
            request,
            context,
            store=store,
            out_dir=output,
            options=RunOptions(
                workers=args.workers, transport=args.transport, allow_hosts=tuple(args.allow_host)
            ),
            target_pid=args.target_pid,
            progress=printer,
            max_retries=args.max_retries,
            retry_cooldown=args.retry_cooldown,
            retry_budget=args.retry_budget,
            chat_service=chat_service,
            explain=chat_service is not None,
            report=not args.no_report,
        )
    except BaseException as exc:
        output.abandon()
        if junit is not None:
            junit.unlink(missing_ok=True)  # an earlier run's file must not pass for this run's result
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
    tests = gated_tests(outcome.metrics, min_score=args.min_score, fail_on_degraded=args.fail_on_degraded)
    if junit is not None:
        outcome.artifacts["junit"] = str(write_junit(junit, outcome.metrics, tests))
    print_outcome(outcome.metrics, gate, outcome.artifacts, outcome.explanation)
    ci_outputs(outcome.metrics, tests, gate)
    if outcome.explanation_note:
        print(f"--explain: no explanation: {outcome.explanation_note}", file=sys.stderr)
    return 0 if gate.passed else 1


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
        print(json.dumps(plan.to_wire(), indent=2))
        return 0
    context = RunContext(trace_id=plan.trace_id, edition_id=plan.edition_id, module_id=plan.module_id)
    chain = plan_chain(
        context, memory_enabled=True, baseline_file=bool(args.baseline), max_retries=plan.max_retries
    )
    print(f"Execution plan {plan.trace_id}: {plan.module_id} / {plan.edition_id or '-'} at {plan.base_url}")
    for test in plan.tests:
        gated = "" if not test.exclude_from_gate else " (not gated)"
        print(f"  [{test.index}] {test.method} {test.endpoint} {test.test_type}{gated}: {test.profile}")
    print("Skill chain:")
    print("  " + chain.describe().replace("\n", "\n  "))
    return 0
