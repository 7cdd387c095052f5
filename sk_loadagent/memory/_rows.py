"""RunRecord <-> table row, shared by the SQLite and PostgreSQL stores.

The key is also stored as one canonical text (``series_key``) so that a key with null parts is matched by
plain equality and served by an index, in both databases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from sk_loadagent.errors import InputError, MemoryStoreError
from sk_loadagent.memory.record import RunRecord, SeriesKey
from sk_loadagent.models.loading import problems_from

# Every column a record maps to, in table order (seq and series_key are the store's own).
COLUMNS = (
    "run_id",
    "created_at",
    "edition_id",
    "module_id",
    "test_type",
    "endpoint",
    "load_profile",
    "trace_id",
    "status",
    "performance_score",
    "p95_latency_ms",
    "p99_latency_ms",
    "rps",
    "error_rate",
    "regressed",
    "is_baseline",
    "baseline_obsolete",
    "validated",
    "infrastructure_failure",
    "retry_attempt",
    "metrics",
    "latency_histogram",
    "score_log",
    "span_profile",
)
JSON_COLUMNS = frozenset({"metrics", "latency_histogram", "score_log", "span_profile"})
FILTER_COLUMNS = ("module_id", "edition_id", "test_type", "endpoint")


def series_key_text(key: SeriesKey) -> str:
    parts = [key.edition_id, key.module_id, key.test_type, key.endpoint, key.load_profile]
    return json.dumps(parts, ensure_ascii=False)


def to_json_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, allow_nan=False)


def record_values(record: RunRecord) -> dict[str, Any]:
    """Column -> Python value (JSON columns as text) plus ``series_key``."""
    values: dict[str, Any] = {name: getattr(record, name) for name in COLUMNS}
    for name in JSON_COLUMNS:
        values[name] = to_json_text(values[name])
    values["series_key"] = series_key_text(record.key)
    return values


def row_record(row: Mapping[str, Any], source: str) -> RunRecord:
    """A stored row as a record; a row that no longer validates is reported, never returned half-read."""
    data: dict[str, Any] = {name: row[name] for name in COLUMNS}
    where = f"run {data.get('run_id')}"
    for name in JSON_COLUMNS:
        if isinstance(data[name], str):
            try:
                data[name] = json.loads(data[name])
            except json.JSONDecodeError as exc:
                raise MemoryStoreError(
                    f"{source}: {where}: {name}: expected JSON text, got {exc.msg}"
                ) from None
    try:
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        raise MemoryStoreError(
            str(InputError(source, problems_from(exc, where, data=data, model=RunRecord)))
        ) from None
