"""Records from a spec perf-baseline.memory.json: one entry (cycle 3, cycle 17) or a list of entries.

Such a file is another agent's input, so it is only read. Its entries carry no id and no time: the id is a
digest of the entry (stable across reads), the time is the file's modification time and the order is the
file's order. The last entry of each key that passed (or has no status, as in the cycle 17 example) is
that key's baseline.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from sk_loadagent.errors import InputError, MemoryStoreError
from sk_loadagent.memory.record import RunRecord, SeriesKey
from sk_loadagent.models.baseline import PerfBaseline
from sk_loadagent.models.loading import problems_from

_SCOPE_FIELDS = ("traceId", "moduleId", "editionId", "testType", "endpoint")
_FIGURE_FIELDS = ("p95LatencyMs", "latency", "performanceScore", "rps", "status", "errorRate")


def _looks_like_entry(data: object) -> bool:
    return (
        isinstance(data, dict)
        and any(data.get(name) is not None for name in _SCOPE_FIELDS)
        and any(data.get(name) is not None for name in _FIGURE_FIELDS)
    )


def is_baseline_document(data: object) -> bool:
    """A baseline entry or a list of them (an empty list is an empty history)."""
    if isinstance(data, list):
        return all(_looks_like_entry(item) for item in data)
    return _looks_like_entry(data)


def _entry_id(index: int, entry: dict[str, Any]) -> str:
    digest = hashlib.sha256(f"{index}:{json.dumps(entry, sort_keys=True)}".encode())
    return digest.hexdigest()[:32]


def _regressed(entry: dict[str, Any]) -> bool:
    comparison = entry.get("baselineComparison")
    return isinstance(comparison, dict) and comparison.get("regressed") is True


def _record(index: int, entry: dict[str, Any], created_at: datetime, source: str, field: str) -> RunRecord:
    try:
        baseline = PerfBaseline.model_validate(entry)
        latency = baseline.latency
        retry_attempt = entry.get("retryAttempt")
        return RunRecord(
            run_id=_entry_id(index, entry),
            created_at=created_at,
            edition_id=baseline.edition_id,
            module_id=baseline.module_id,
            test_type=baseline.test_type,
            endpoint=baseline.endpoint,
            trace_id=baseline.trace_id,
            status=baseline.status,
            performance_score=baseline.performance_score,
            p95_latency_ms=baseline.p95(),
            p99_latency_ms=latency.p99 if latency is not None else None,
            rps=baseline.rps,
            error_rate=baseline.error_rate,
            regressed=_regressed(entry),
            retry_attempt=retry_attempt if isinstance(retry_attempt, int) and retry_attempt >= 0 else 0,
            metrics=entry,
            latency_histogram=entry.get("latencyHistogram"),
        )
    except ValidationError as exc:
        raise MemoryStoreError(str(InputError(source, problems_from(exc, field, data=entry)))) from None


def records_from_baselines(
    data: dict[str, Any] | list[Any], source: str, created_at: datetime
) -> list[RunRecord]:
    """The records of a document that ``is_baseline_document`` accepted, oldest first."""
    entries = data if isinstance(data, list) else [data]
    records = [
        _record(index, entry, created_at, source, f"[{index}]" if isinstance(data, list) else "")
        for index, entry in enumerate(entries)
    ]
    last_pass: dict[SeriesKey, int] = {}
    for index, record in enumerate(records):
        if record.status in (None, "pass"):
            last_pass[record.key] = index
    baselines = set(last_pass.values())
    return [
        record.model_copy(update={"is_baseline": True}) if index in baselines else record
        for index, record in enumerate(records)
    ]
