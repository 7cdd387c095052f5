"""PerfMetricCollectorSkill (spec cycle 6): samples and telemetry -> perf-metrics."""

from __future__ import annotations

from typing import Annotated, Any

from semantic_kernel.functions import kernel_function

from sk_loadagent.skills._coerce import attempt_number, required_execution_plan, run_results
from sk_loadagent.suite.collect import collect


class PerfMetricCollector:
    """Aggregates the raw samples of each run and the target's resource samples into perf-metrics."""

    @kernel_function(
        name="collect_metrics",
        description="Turn the runs' samples and target telemetry into a suite perf-metrics object.",
    )
    def collect_metrics(
        self,
        executionPlan: Annotated[dict[str, Any], "the execution plan the runs followed"],
        runResults: Annotated[Any, "the runs from run_load_tests (a list of TestRun)"],
        retryAttempt: Annotated[int, "attempt number, recorded in every test"] = 0,
    ) -> dict[str, Any]:
        plan = required_execution_plan(executionPlan)
        runs = run_results(runResults, plan)
        return collect(plan, runs, retry_attempt=attempt_number(retryAttempt)).to_wire()
