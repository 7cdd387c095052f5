"""Argument shapes a caller may pass through KernelArguments, turned into our models.

Every skill checks its arguments here and raises ``InputError`` naming the argument, the field and what was
expected. Semantic Kernel wraps an exception raised in a kernel function in ``KernelInvokeException`` (its
``__cause__`` chain keeps ours) and logs it; ``sk_loadagent.errors.root_cause`` finds the InputError again,
and the CLI maps it to exit code 2. Skills never ``assert`` on an argument: asserts vanish under ``-O`` and
an AssertionError names nothing.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sk_loadagent.errors import InputError
from sk_loadagent.models.caps import Caps
from sk_loadagent.models.loading import problems_from, validate_document
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.skills._runs import RunResultCache, RunResults
from sk_loadagent.suite.execute import TestRun
from sk_loadagent.suite.execution_plan import ExecutionPlan


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@functools.cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def argument(name: str, annotation: Any, value: Any) -> Any:
    """A plain argument checked against its type, by pydantic's rules: ``"3"`` is 3 but ``3.5`` is no whole
    number and ``"maybe"`` no boolean (Semantic Kernel's own coercion would truncate and guess)."""
    try:
        return _adapter(annotation).validate_python(value)
    except ValidationError as exc:
        raise InputError(name, problems_from(exc, data=value)) from None


def perf_metrics(value: Any) -> PerfMetrics:
    """A perf-metrics dict (one test or a suite with ``tests``), its JSON text, or the model itself."""
    if isinstance(value, PerfMetrics):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError.single("perfMetrics", "", "a perf-metrics.json object", exc.msg) from None
    return validate_document(value, PerfMetrics, "perfMetrics")


def execution_plan(value: Any) -> ExecutionPlan | None:
    """An optional execution plan (the output of interpret_plan), as a dict or the model."""
    if value is None or isinstance(value, ExecutionPlan):
        return value
    return validate_document(value, ExecutionPlan, "executionPlan")


def required_execution_plan(value: Any) -> ExecutionPlan:
    plan = execution_plan(value)
    if plan is None:
        raise InputError.single("executionPlan", "", "the execution plan from interpret_plan", "nothing")
    return plan


def plan_document(value: Any) -> str | Path | dict[str, Any] | TestSuitePlan:
    """interpret_plan's ``plan``: a path to test-suite.plan.yaml, or the plan itself."""
    if isinstance(value, str | Path | dict | TestSuitePlan) and value != "":
        return value
    raise InputError.single(
        "plan", "", "a path to test-suite.plan.yaml or the plan as a mapping", _shown(value)
    )


def plan_caps(value: Any) -> Caps | None:
    """interpret_plan's ``caps``: a Caps or its wire mapping; None for this machine's."""
    if value is None or isinstance(value, Caps):
        return value
    return validate_document(value, Caps, "caps")


def run_results(value: Any, plan: ExecutionPlan, cache: RunResultCache | None = None) -> list[TestRun]:
    """collect_metrics' ``runResults``: what run_load_tests returned (its ``runResultsId``, which ``cache``
    resolves), or, from Python, the TestRun list itself; each run must be of a test of ``plan``."""
    if isinstance(value, str | dict | RunResults):
        value = _cached_runs(value, cache)
    expected = "the list of runs that run_load_tests returned"
    if not isinstance(value, list | tuple) or not value:
        raise InputError.single("runResults", "", expected, _shown(value))
    planned = {t.index for t in plan.tests}
    for position, run in enumerate(value):
        if not isinstance(run, TestRun):
            raise InputError.single(
                "runResults", f"[{position}]", "a TestRun from run_load_tests", _shown(run)
            )
        if run.index not in planned:
            raise InputError.single(
                "runResults",
                f"[{position}].index",
                f"a test index of the plan {sorted(planned)}",
                str(run.index),
            )
    return list(value)


def _cached_runs(value: str | dict[str, Any] | RunResults, cache: RunResultCache | None) -> list[TestRun]:
    if isinstance(value, str):
        run_id = value
    elif isinstance(value, RunResults):
        run_id = value.run_results_id
    else:
        run_id = validate_document(value, RunResults, "runResults").run_results_id
    runs = cache.get(run_id) if cache is not None else None
    if runs is None:
        known = ", ".join(cache.known()) if cache is not None and cache.known() else "none in this kernel"
        raise InputError.single(
            "runResults", "runResultsId", f"the id of runs run_load_tests made here ({known})", repr(run_id)
        )
    return runs


def attempt_number(value: Any) -> int:
    """``retryAttempt``: 0 for the first attempt, then 1, 2, ..."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError.single(
            "retryAttempt", "", "a whole number from 0 (the first attempt)", _shown(value)
        )
    return value


def retry_adjustments(value: Any) -> dict[int, Any]:
    """``retryAdjustments``: per test index (an int, or its text as JSON keys are), a mapping of changes."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError.single(
            "retryAdjustments", "", "a mapping of test index to adjustments", _shown(value)
        )
    adjustments: dict[int, Any] = {}
    for key, changes in value.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise InputError.single(
                "retryAdjustments", str(key), "a test index (a whole number)", _shown(key)
            ) from None
        if not isinstance(changes, dict):
            raise InputError.single("retryAdjustments", str(key), "a mapping of adjustments", _shown(changes))
        adjustments[index] = changes
    return adjustments


def retried_for(value: Any) -> dict[str, list[str]] | None:
    """``retriedFor``: per test index (as text), the trigger kinds that already retried the test."""
    if value is None:
        return None
    expected = "a mapping of test index to a list of trigger kinds"
    if not isinstance(value, dict):
        raise InputError.single("retriedFor", "", expected, _shown(value))
    for key, kinds in value.items():
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise InputError.single("retriedFor", str(key), "a list of trigger kinds", _shown(kinds))
    return {str(key): kinds for key, kinds in value.items()}


def retry_budget(value: Any) -> dict[str, float] | None:
    """``retryBudget``: ``secondsLeft`` of the retry phase and ``attemptSeconds`` of the judged attempt."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError.single(
            "retryBudget", "", "a mapping with secondsLeft and attemptSeconds", _shown(value)
        )
    for name in ("secondsLeft", "attemptSeconds"):
        seconds = value.get(name)
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds < float("inf")
        ):
            raise InputError.single("retryBudget", name, "a number of seconds, 0 or more", _shown(seconds))
    return {name: float(value[name]) for name in ("secondsLeft", "attemptSeconds")}


def attempt_history(value: Any) -> list[dict[str, Any]]:
    """publish_preview's ``attempts``: the retry history, one mapping per attempt."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError.single("attempts", "", "a list of attempts (mappings)", _shown(value))
    for position, attempt in enumerate(value):
        if not isinstance(attempt, dict):
            raise InputError.single("attempts", f"[{position}]", "a mapping (one attempt)", _shown(attempt))
    return value


def same_shape(original: Any, result: PerfMetrics) -> Any:
    """Give the caller back what they passed in: the model, or its wire dict."""
    return result if isinstance(original, PerfMetrics) else result.to_wire()
