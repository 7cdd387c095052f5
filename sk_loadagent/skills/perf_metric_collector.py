"""PerfMetricCollectorSkill (spec cycle 6): samples and telemetry -> perf-metrics."""

from __future__ import annotations

from typing import Annotated, Any

from semantic_kernel.functions import kernel_function

from sk_loadagent.skills._coerce import execution_plan
from sk_loadagent.suite.collect import collect
from sk_loadagent.suite.execute import TestRun


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
        plan = execution_plan(executionPlan)
        assert plan is not None
        runs: list[TestRun] = list(runResults)
        return collect(plan, runs, retry_attempt=retryAttempt).to_wire()
