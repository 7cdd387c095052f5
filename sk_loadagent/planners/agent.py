"""The agent: a kernel holding the eight skills, a step recorder, and one call that runs a suite."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semantic_kernel import Kernel
from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase
from semantic_kernel.filters import FilterTypes

from sk_loadagent.engine import Progress, RunOptions
from sk_loadagent.errors import InputError
from sk_loadagent.memory import MemoryStore
from sk_loadagent.models.caps import Caps
from sk_loadagent.models.context import RunContext
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.planners.chain import SkillChain, plan_chain
from sk_loadagent.planners.runner import context_arguments, execute_chain
from sk_loadagent.planners.step_log import StepRecorder
from sk_loadagent.prompts import add_prompt_plugins, explain_suite
from sk_loadagent.publish import write_score_log
from sk_loadagent.publish.explanation import add_explanation
from sk_loadagent.publish.outdir import OutputFolder
from sk_loadagent.publish.studio import check_studio_files
from sk_loadagent.skills import (
    LoadRunnerExecutor,
    MemoryPusher,
    PerfMetricCollector,
    PerformanceScorer,
    PreviewPublisher,
    RegressionComparer,
    TestPlanInterpreter,
    ThresholdEvaluator,
)
from sk_loadagent.skills._runs import RunResultCache
from sk_loadagent.suite.inputs import load_inputs
from sk_loadagent.suite.outputs import write_run_outputs


@dataclass
class SuiteRequest:
    """What a run needs besides its context: the input files and where things go."""

    plan: str | Path | dict[str, Any]
    thresholds: list[str] = field(default_factory=list)
    metadata: str | None = None
    editions: str | None = None
    annotations: str | None = None
    weighting: str | None = None
    baseline: str | None = None
    trace_plan: str | None = None  # --trace-plan: one flow test per trace path of a trace.plan.yaml
    observability: str | None = None  # --observability: an observability.config.yaml
    target_url: str | None = None
    allow_hosts: list[str] = field(default_factory=list)
    caps: Caps | None = None  # None: this machine's (sk_loadagent.engine.machine_caps)
    ca_file: str | None = None  # --ca-file: trust this CA for an https:// target
    insecure: bool = False  # --insecure: skip certificate verification
    warn_on_regression: bool = False
    retry_on_flakiness: bool = False


@dataclass
class AgentOutcome:
    metrics: PerfMetrics
    artifacts: dict[str, str]
    chain: SkillChain
    steps: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    memory_records: list[dict[str, Any]]
    explanation: str | None = None
    # Why an explanation that was asked for is missing (no chat service, or it failed).
    explanation_note: str | None = None
    # What the edition and Studio changed in the plan (ExecutionPlan.notes).
    plan_notes: list[str] = field(default_factory=list)


def build_kernel(
    *,
    store: MemoryStore | None,
    out_dir: str | Path,
    options: RunOptions | None = None,
    target_pid: int | None = None,
    progress: Callable[[str, Progress], None] | None = None,
    recorder: StepRecorder | None = None,
    chat_service: ChatCompletionClientBase | None = None,
    report: bool = False,
) -> Kernel:
    """A kernel with the eight skills registered under their spec names and the step recorder as filter;
    with a chat service, also that service and the prompt functions (sk_loadagent.prompts)."""
    recorder = recorder or StepRecorder()
    runs = RunResultCache()
    kernel = Kernel()
    kernel.add_plugin(TestPlanInterpreter(), plugin_name="TestPlanInterpreter")
    kernel.add_plugin(
        LoadRunnerExecutor(options, target_pid=target_pid, progress=progress, runs=runs),
        plugin_name="LoadRunnerExecutor",
    )
    kernel.add_plugin(PerfMetricCollector(runs), plugin_name="PerfMetricCollector")
    kernel.add_plugin(RegressionComparer(store), plugin_name="RegressionComparer")
    kernel.add_plugin(PerformanceScorer(), plugin_name="PerformanceScorer")
    kernel.add_plugin(ThresholdEvaluator(), plugin_name="ThresholdEvaluator")
    kernel.add_plugin(
        PreviewPublisher(out_dir, steps=lambda: list(recorder.records), report=report),
        plugin_name="PreviewPublisher",
    )
    if store is not None:
        kernel.add_plugin(MemoryPusher(store), plugin_name="MemoryPusher")
    if chat_service is not None:
        kernel.add_service(chat_service)
        add_prompt_plugins(kernel)
    kernel.add_filter(FilterTypes.FUNCTION_INVOCATION, recorder)
    return kernel


def _export_results(plan: Any, metrics: PerfMetrics) -> None:
    """The run's results as OTLP metrics when the observability config names ``exportMetrics`` (after the
    artifacts are in place: a failed export is a logged warning, never a different result)."""
    watch = plan.get("observability") if isinstance(plan, dict) else None
    endpoint = watch.get("exportMetrics") if isinstance(watch, dict) else None
    if not isinstance(endpoint, str):
        return
    from sk_loadagent.observability import export_results

    problem = export_results(endpoint, metrics)
    if problem is not None:
        logging.getLogger(__name__).warning(problem)


def trusted_options(request: SuiteRequest, options: RunOptions | None) -> RunOptions:
    """The load runner's options, its allow-list widened by the hosts the request names and by the
    ``allowHosts`` of the plan it hands over.

    run_suite's caller is the host (the CLI, a Python program, the LoadAgent plugin with its configured
    hosts), so the plan it hands over is trusted. A plan that reaches the runner any other way (an execution
    plan in KernelArguments, a model's tool call) cannot widen the list (``suite.execute.run_tests``).
    """
    options = options or RunOptions()
    try:
        plan_hosts = load_inputs(request.plan).plan.allow_hosts
    except InputError:
        plan_hosts = []  # the interpret step reports the bad plan, and the step log records it
    hosts = [*options.allow_hosts, *request.allow_hosts, *plan_hosts]
    return dataclasses.replace(options, allow_hosts=tuple(dict.fromkeys(hosts)))


async def run_suite(
    request: SuiteRequest,
    context: RunContext,
    *,
    store: MemoryStore | None,
    out_dir: str | Path | OutputFolder,
    options: RunOptions | None = None,
    target_pid: int | None = None,
    progress: Callable[[str, Progress], None] | None = None,
    max_retries: int = 3,
    retry_cooldown: float | None = None,
    retry_budget: float | None = None,
    chat_service: ChatCompletionClientBase | None = None,
    explain: bool = False,
    report: bool = True,
) -> AgentOutcome:
    """Plan the chain from the context, run it on a fresh kernel, and write the complete step log.

    With ``explain`` the kernel's chat service (``chat_service``) writes an explanation of the result into
    the preview; without a service, or when it fails, the run is unchanged and the outcome says why.
    ``retry_cooldown`` and ``retry_budget`` (seconds) set the pause before each retry and bound the whole
    retry phase (``planners.runner.execute_chain``).

    ``out_dir`` is claimed before any load is sent (an unwritable folder, or one another run holds, is an
    InputError), unless the caller passes one it claimed; it receives the run's artifacts as one set at the
    end, and is released. A run that raises or is interrupted leaves none of its files there, and removes an
    earlier run's (``publish.outdir``).

    Besides the skills' artifacts the run writes report.html (unless ``report`` is False) and updates
    Studio's doc-coverage.metrics.json and studio.analytics.json (``suite.outputs``); an existing Studio file
    that does not validate is an InputError before any load is sent.
    """
    recorder = StepRecorder()
    chain = plan_chain(
        context,
        memory_enabled=store is not None,
        baseline_file=request.baseline is not None,
        max_retries=max_retries,
    )
    for left_out in chain.skipped:
        recorder.skipped(left_out.skill, left_out.function, left_out.reason, context.trace_id)
    arguments = context_arguments(
        chain,
        plan=request.plan if not isinstance(request.plan, Path) else str(request.plan),
        thresholdFiles=request.thresholds or None,
        metadataFile=request.metadata,
        editionsFile=request.editions,
        annotationsFile=request.annotations,
        weightingFile=request.weighting,
        baselineFile=request.baseline,
        tracePlanFile=request.trace_plan,
        observabilityFile=request.observability,
        targetUrl=request.target_url,
        allowHosts=request.allow_hosts or None,
        caps=request.caps.to_wire() if request.caps is not None else None,
        caFile=request.ca_file,
        insecureSkipVerify=request.insecure or None,
        warnOnRegression=request.warn_on_regression,
        retryOnFlakiness=request.retry_on_flakiness,
    )
    output = out_dir if isinstance(out_dir, OutputFolder) else OutputFolder.claim(out_dir)
    try:
        check_studio_files(output.folder)
        kernel = build_kernel(
            store=store,
            out_dir=output.staging,
            options=trusted_options(request, options),
            target_pid=target_pid,
            progress=progress,
            recorder=recorder,
            chat_service=chat_service,
            report=report,
        )
        arguments = await execute_chain(
            kernel, chain, arguments, retry_cooldown=retry_cooldown, retry_budget=retry_budget
        )
        metrics = PerfMetrics.model_validate(arguments["perfMetrics"])
        staged = dict(arguments.get("artifacts") or {})
        explanation, note = None, None
        if explain:
            # Before the step log is written, so the explain step is logged with the skills' steps.
            explained = await explain_suite(kernel, metrics)
            explanation, note = explained.text, explained.reason
            if explanation is not None and "preview" in staged:
                add_explanation(output.staging, explanation)
        staged.update(
            write_run_outputs(
                metrics, output.folder, output.staging, store, report=report, explanation=explanation
            )
        )
        write_score_log(output.staging, metrics, recorder.records, arguments.get("attempts") or [])
        output.commit(arguments.get("editionId"), arguments.get("moduleId"))
        _export_results(arguments.get("executionPlan"), metrics)
    except BaseException:
        output.discard(arguments.get("editionId"), arguments.get("moduleId"))
        raise
    finally:
        output.release()
    return AgentOutcome(
        metrics=metrics,
        artifacts={name: str(output.final_path(path)) for name, path in staged.items()},
        chain=chain,
        steps=list(recorder.records),
        attempts=list(arguments.get("attempts") or []),
        memory_records=list(arguments.get("memoryRecords") or []),
        explanation=explanation,
        explanation_note=note,
        plan_notes=list((arguments.get("executionPlan") or {}).get("notes") or []),
    )
