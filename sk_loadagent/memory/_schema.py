"""Schema versions of the stores and the forward migration of a stored run.

Version 1 stored no ``p99LatencyMs`` and no ``scoreLog``. Version 2 takes p99 from the run's stored
perf-metrics (``latency.p99``) and starts every old run with an empty score log. Version 3 adds the
``loadProfile`` that splits a scope into series and the ``infrastructureFailure`` flag; both are derived from
the run's stored perf-metrics (``v3_fields``), exactly as a new run gets them, and the SQL stores rewrite
each run's series key to include the profile. A run whose profile cannot be derived keeps none (an unknown
profile, its own series); no run is dropped. Version 4 adds the ``spanProfile`` (each operation's self-time
histogram and the bottleneck of the run's trace summary, ``record.span_profile``), taken from the stored
perf-metrics' ``traceSummary``; a run without one keeps none. Each store applies the same steps: the JSON
store to the run objects, the SQL stores to their columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from sk_loadagent.errors import MemoryStoreError
from sk_loadagent.memory.base import store_error
from sk_loadagent.memory.profile import load_profile_key
from sk_loadagent.memory.record import span_profile
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.trace_summary import TraceSummary

SCHEMA_VERSION = 4

RunObject = dict[str, Any]


def p99_from_metrics(metrics: object) -> float | None:
    """``latency.p99`` of a stored perf-metrics object when it holds a usable number."""
    latency = metrics.get("latency") if isinstance(metrics, dict) else None
    value = latency.get("p99") if isinstance(latency, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _run_v1_to_v2(run: RunObject) -> RunObject:
    upgraded = dict(run)
    if upgraded.get("p99LatencyMs") is None:
        upgraded["p99LatencyMs"] = p99_from_metrics(run.get("metrics"))
    upgraded.setdefault("scoreLog", [])
    return upgraded


def v3_fields(metrics: object) -> tuple[str | None, bool]:
    """The load profile key and the infrastructure-failure flag of a run stored before schema 3, from its
    stored perf-metrics; an unreadable one gives an unknown profile and no failure."""
    try:
        stored = PerfMetrics.model_validate(metrics)
    except ValidationError:
        return None, False
    # Imported here: analysis is needed only by this one-off migration step, not to open a store.
    from sk_loadagent.analysis.outage import detect_infrastructure_failure

    return load_profile_key(stored), detect_infrastructure_failure(stored) is not None


def _run_v2_to_v3(run: RunObject) -> RunObject:
    upgraded = dict(run)
    profile, failed = v3_fields(run.get("metrics"))
    upgraded.setdefault("loadProfile", profile)
    upgraded.setdefault("infrastructureFailure", failed)
    return upgraded


def v4_span_profile(metrics: object) -> dict[str, Any] | None:
    """The span profile of a run stored before schema 4, from its stored perf-metrics (None when it has no
    usable trace summary)."""
    summary = metrics.get("traceSummary") if isinstance(metrics, dict) else None
    if not isinstance(summary, dict):
        return None
    try:
        return span_profile(TraceSummary.model_validate(summary))
    except ValidationError:
        return None


def _run_v3_to_v4(run: RunObject) -> RunObject:
    upgraded = dict(run)
    upgraded.setdefault("spanProfile", v4_span_profile(run.get("metrics")))
    return upgraded


_RUN_STEPS: dict[int, Callable[[RunObject], RunObject]] = {
    1: _run_v1_to_v2,
    2: _run_v2_to_v3,
    3: _run_v3_to_v4,
}


def upgrade_run(run: RunObject, version: int) -> RunObject:
    """A run object of schema ``version`` in the current schema."""
    for step in range(version, SCHEMA_VERSION):
        run = _RUN_STEPS[step](run)
    return run


def check_version(value: object, source: str) -> int:
    """The schema version a store declares; refuses what is not one and what is newer than we know."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        got = "nothing" if value is None else repr(value)
        raise store_error(source, "schemaVersion", f"a whole number from 1 to {SCHEMA_VERSION}", got)
    if value > SCHEMA_VERSION:
        raise newer_schema(source, value)
    return value


class NewerStoreError(MemoryStoreError):
    """A store written by a newer sk-loadagent: readers say so rather than guess at its contents."""


def newer_schema(source: str, version: int) -> MemoryStoreError:
    found = store_error(
        source,
        "schemaVersion",
        f"{SCHEMA_VERSION} or older (a newer sk-loadagent wrote this store: upgrade sk-loadagent to use it)",
        str(version),
    )
    return NewerStoreError(str(found))
