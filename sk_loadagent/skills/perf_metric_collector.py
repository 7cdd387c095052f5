"""PerfMetricCollectorSkill (spec cycle 6): samples and telemetry -> perf-metrics."""

from __future__ import annotations

from typing import Annotated, Any

from sk_loadagent.skills._coerce import attempt_number, required_execution_plan, run_results
from sk_loadagent.skills._runs import RunResultCache, RunResults
from sk_loadagent.skills._schema import takes, tool_function
from sk_loadagent.suite.collect import collect
from sk_loadagent.suite.execution_plan import ExecutionPlan


class PerfMetricCollector:
    """Aggregates the raw samples of each run and the target's resource samples into perf-metrics.

    ``runs`` is the cache LoadRunnerExecutor put the runs in (``build_kernel`` gives both the same one).
    """

    def __init__(self, runs: RunResultCache | None = None) -> None:
        self.runs = runs

    @tool_function(
        name="collect_metrics",
        description="Turn the runs' samples and target telemetry into a suite perf-metrics object.",
    )
    def collect_metrics(
        self,
        executionPlan: Annotated[Any, takes(ExecutionPlan, "the execution plan the runs followed")],
        runResults: Annotated[Any, takes(RunResults, "what run_load_tests returned (its runResultsId)")],
        retryAttempt: Annotated[Any, takes(int, "attempt number, recorded in every test")] = 0,
    ) -> dict[str, Any]:
        plan = required_execution_plan(executionPlan)
        runs = run_results(runResults, plan, self.runs)
        return collect(plan, runs, retry_attempt=attempt_number(retryAttempt)).to_wire()
