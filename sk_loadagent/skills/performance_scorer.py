"""PerformanceScorerSkill (spec cycle 15): the weighted 0-1 score. Reused by the Resiliency Agent."""

from __future__ import annotations

from typing import Annotated, Any

from sk_loadagent.models.metrics import PerfMetrics, ScoreWeights
from sk_loadagent.models.thresholds import PerfThresholds
from sk_loadagent.skills._coerce import execution_plan, perf_metrics, same_shape
from sk_loadagent.skills._schema import takes, tool_function
from sk_loadagent.suite.execution_plan import ExecutionPlan
from sk_loadagent.suite.judge import score


class PerformanceScorer:
    """Calculates performanceScore from latency, throughput, errors, resources and the baseline delta."""

    @tool_function(
        name="score_performance",
        description=(
            "Score perf-metrics 0-1: 0.35 latency + 0.25 throughput + 0.20 error rate + 0.10 resource "
            "utilisation + 0.10 baseline delta, against thresholds (default: p95 800 ms, errorRate 1 %); "
            "scoreStatus is its band: pass >= 0.90, warning 0.75-0.89, degraded 0.50-0.74, fail < 0.50."
        ),
    )
    def score_performance(
        self,
        perfMetrics: Annotated[Any, takes(PerfMetrics, "perf-metrics of one test or of a suite")],
        thresholds: Annotated[Any, takes(PerfThresholds | None, "a perf-thresholds.yaml document")] = None,
        weights: Annotated[Any, takes(ScoreWeights | None, "score weights overriding the defaults")] = None,
        executionPlan: Annotated[
            Any, takes(ExecutionPlan | None, "the execution plan (threshold sources)")
        ] = None,
    ) -> Any:
        metrics = perf_metrics(perfMetrics)
        scored = score(metrics, execution_plan(executionPlan), thresholds=thresholds, weights=weights)
        return same_shape(perfMetrics, scored)
