"""ThresholdEvaluatorSkill (spec cycles 8 and 18): status, violations, and whether to retry."""

from __future__ import annotations

from typing import Annotated, Any

from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.thresholds import PerfThresholds
from sk_loadagent.skills._coerce import (
    attempt_number,
    execution_plan,
    perf_metrics,
    retried_for,
    retry_budget,
    same_shape,
)
from sk_loadagent.skills._schema import takes, tool_function
from sk_loadagent.suite.execution_plan import ExecutionPlan
from sk_loadagent.suite.judge import evaluate, recommend


class ThresholdEvaluator:
    """Classifies each test pass / warning / degraded / fail from thresholds, score band and regression."""

    @tool_function(
        name="evaluate_thresholds",
        description="Classify scored perf-metrics as pass, warning, degraded or fail, with the reasons.",
    )
    def evaluate_thresholds(
        self,
        perfMetrics: Annotated[Any, takes(PerfMetrics, "scored perf-metrics of one test or of a suite")],
        thresholds: Annotated[Any, takes(PerfThresholds | None, "a perf-thresholds.yaml document")] = None,
        executionPlan: Annotated[
            Any, takes(ExecutionPlan | None, "the execution plan (threshold sources)")
        ] = None,
    ) -> Any:
        metrics = perf_metrics(perfMetrics)
        evaluated = evaluate(metrics, execution_plan(executionPlan), thresholds=thresholds)
        return same_shape(perfMetrics, evaluated)

    @tool_function(
        name="recommend_retry",
        description="Decide whether failing tests are retried (spec cycle 18): strategy and adjustments.",
    )
    def recommend_retry(
        self,
        perfMetrics: Annotated[Any, takes(PerfMetrics, "evaluated perf-metrics of a suite")],
        retryAttempt: Annotated[Any, takes(int, "the attempt that produced these metrics (0 first)")] = 0,
        executionPlan: Annotated[
            Any, takes(ExecutionPlan | None, "the execution plan (retryOnFail, maxRetries)")
        ] = None,
        retriedFor: Annotated[
            Any,
            takes(dict[str, list[str]] | None, "per test index, the trigger kinds that already retried it"),
        ] = None,
        retryBudget: Annotated[
            Any,
            takes(
                dict[str, float] | None,
                "secondsLeft of the retry phase, attemptSeconds of the judged attempt",
            ),
        ] = None,
    ) -> dict[str, Any]:
        return recommend(
            perf_metrics(perfMetrics),
            execution_plan(executionPlan),
            attempt=attempt_number(retryAttempt),
            retried_for=retried_for(retriedFor),
            budget=retry_budget(retryBudget),
        )
