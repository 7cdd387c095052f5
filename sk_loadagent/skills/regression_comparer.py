"""RegressionComparerSkill (spec cycles 6 and 17): this run vs the memory baseline."""

from __future__ import annotations

from typing import Annotated, Any

from sk_loadagent.memory import MemoryStore
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.skills._coerce import argument, execution_plan, perf_metrics, same_shape
from sk_loadagent.skills._schema import takes, tool_function
from sk_loadagent.suite.execution_plan import ExecutionPlan
from sk_loadagent.suite.judge import compare


class RegressionComparer:
    """Compares each test with the last validated run of its edition/module/testType/endpoint."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store

    @tool_function(
        name="compare_with_baseline",
        description=(
            "Compare perf-metrics with the memory baseline of the same edition, module, test type and "
            "endpoint; adds baselineComparison (delta, interval, regressed, confidence) to each test."
        ),
    )
    def compare_with_baseline(
        self,
        perfMetrics: Annotated[Any, takes(PerfMetrics, "perf-metrics of one test or of a suite")],
        executionPlan: Annotated[
            Any, takes(ExecutionPlan | None, "the execution plan (for seed baselines)")
        ] = None,
        memoryCompare: Annotated[Any, takes(bool, "false skips the comparison")] = True,
    ) -> Any:
        metrics = perf_metrics(perfMetrics)
        if not argument("memoryCompare", bool, memoryCompare):
            return same_shape(perfMetrics, metrics)
        return same_shape(perfMetrics, compare(metrics, execution_plan(executionPlan), self.store))
