"""Argument shapes a caller may pass through KernelArguments, turned into our models."""

from __future__ import annotations

from typing import Any

from sk_loadagent.errors import InputError
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.suite.execution_plan import ExecutionPlan


def perf_metrics(value: Any) -> PerfMetrics:
    """A perf-metrics dict (one test or a suite with ``tests``), its JSON text, or the model itself."""
    if isinstance(value, PerfMetrics):
        return value
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError.single("perfMetrics", "", "a perf-metrics.json object", exc.msg) from None
    return validate_document(value, PerfMetrics, "perfMetrics")


def execution_plan(value: Any) -> ExecutionPlan | None:
    if value is None or isinstance(value, ExecutionPlan):
        return value
    return validate_document(value, ExecutionPlan, "executionPlan")


def same_shape(original: Any, result: PerfMetrics) -> Any:
    """Give the caller back what they passed in: the model, or its wire dict."""
    return result if isinstance(original, PerfMetrics) else result.to_wire()
