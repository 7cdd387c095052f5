"""The skill chain of spec cycle 6 as data: which skills run, in what order, and why some are left out.

A chain is planned from the run's context (memoryCompare, whether a memory store is configured) before
anything runs, so it can be printed, stored and replayed; executing it is `planners.runner`'s job.
"""

from __future__ import annotations

from pydantic import Field

from sk_loadagent.models._base import WireModel
from sk_loadagent.models.context import RunContext


class PlanStep(WireModel):
    """One kernel function call: inputs are KernelArguments keys; the result is stored under ``output``."""

    skill: str
    function: str
    reads: list[str] = Field(default_factory=list)
    output: str
    reason: str

    @property
    def name(self) -> str:
        return f"{self.skill}.{self.function}"


class SkippedStep(WireModel):
    skill: str
    function: str
    reason: str


class SkillChain(WireModel):
    """An inspectable, serialisable plan over KernelArguments."""

    context: RunContext
    steps: list[PlanStep]
    skipped: list[SkippedStep] = Field(default_factory=list)
    max_retries: int = 3

    def describe(self) -> str:
        lines = [f"{i + 1}. {s.name} -> {s.output} ({s.reason})" for i, s in enumerate(self.steps)]
        lines += [f"-  {s.skill}.{s.function} skipped: {s.reason}" for s in self.skipped]
        return "\n".join(lines)

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]


INTERPRET = PlanStep(
    skill="TestPlanInterpreter",
    function="interpret_plan",
    reads=["plan", "thresholdFiles", "metadataFile", "editionsFile", "annotationsFile", "targetUrl"],
    output="executionPlan",
    reason="parse the plan and its inputs into an execution plan",
)
RUN = PlanStep(
    skill="LoadRunnerExecutor",
    function="run_load_tests",
    reads=["executionPlan", "retryAttempt"],
    output="runResults",
    reason="generate the load each test asks for",
)
COLLECT = PlanStep(
    skill="PerfMetricCollector",
    function="collect_metrics",
    reads=["executionPlan", "runResults"],
    output="perfMetrics",
    reason="turn samples and target telemetry into perf-metrics",
)
COMPARE = PlanStep(
    skill="RegressionComparer",
    function="compare_with_baseline",
    reads=["perfMetrics", "executionPlan"],
    output="perfMetrics",
    reason="memoryCompare is true: compare with the last validated baseline",
)
SCORE = PlanStep(
    skill="PerformanceScorer",
    function="score_performance",
    reads=["perfMetrics", "executionPlan"],
    output="perfMetrics",
    reason="weighted 0-1 score of spec cycle 15",
)
EVALUATE = PlanStep(
    skill="ThresholdEvaluator",
    function="evaluate_thresholds",
    reads=["perfMetrics", "executionPlan"],
    output="perfMetrics",
    reason="status from thresholds, score band and regression",
)
RETRY_CHECK = PlanStep(
    skill="ThresholdEvaluator",
    function="recommend_retry",
    reads=["perfMetrics", "retryAttempt", "retriedFor", "retryBudget"],
    output="retryDecision",
    reason="spec cycle 18: decide whether failing tests are retried, and how",
)
PUBLISH = PlanStep(
    skill="PreviewPublisher",
    function="publish_preview",
    reads=["perfMetrics", "executionPlan"],
    output="artifacts",
    reason="write perf-metrics.json, load-trace-map.yaml, the Studio preview and alerts",
)
PUSH = PlanStep(
    skill="MemoryPusher",
    function="push_to_memory",
    reads=["perfMetrics"],
    output="memoryRecords",
    reason="store the validated runs for future comparisons",
)


def plan_chain(
    context: RunContext, *, memory_enabled: bool, baseline_file: bool = False, max_retries: int = 3
) -> SkillChain:
    """interpret -> run -> collect -> compare -> score -> evaluate -> publish -> push, minus what the context
    rules out. ``recommend_retry`` follows evaluate when retries are allowed; the runner loops back to
    interpret while it says so, carrying retryAttempt forward in the context variables."""
    steps = [INTERPRET, RUN, COLLECT]
    skipped: list[SkippedStep] = []
    if context.memory_compare and (memory_enabled or baseline_file):
        steps.append(COMPARE)
    else:
        why = "memoryCompare is false" if not context.memory_compare else "no memory store or baseline file"
        skipped.append(SkippedStep(skill=COMPARE.skill, function=COMPARE.function, reason=why))
    steps += [SCORE, EVALUATE]
    if max_retries > 0:
        steps.append(RETRY_CHECK)
    else:
        skipped.append(
            SkippedStep(skill=RETRY_CHECK.skill, function=RETRY_CHECK.function, reason="maxRetries is 0")
        )
    steps.append(PUBLISH)
    if memory_enabled:
        steps.append(PUSH)
    else:
        skipped.append(
            SkippedStep(skill=PUSH.skill, function=PUSH.function, reason="no memory store is configured")
        )
    return SkillChain(context=context, steps=steps, skipped=skipped, max_retries=max_retries)
