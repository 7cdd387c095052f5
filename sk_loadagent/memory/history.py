"""The run history a ``sk-loadagent history`` command prints: one row per run, grouped by series.

Change points are not found here (that is ``analysis.changepoint``); these rows are the data they run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sk_loadagent.memory.base import MemoryStore, check_limit
from sk_loadagent.memory.record import RunRecord, SeriesKey


@dataclass(frozen=True)
class HistoryRow:
    """One stored run: its series, when it ran, and the figures and flags a history table shows."""

    key: SeriesKey
    run_id: str
    created_at: datetime
    trace_id: str | None
    status: str | None
    performance_score: float | None
    p95_latency_ms: float | None
    rps: float | None
    error_rate: float | None
    regressed: bool
    is_baseline: bool
    baseline_obsolete: bool
    validated: bool
    infrastructure_failure: bool
    retry_attempt: int
    retry_outcome: str | None = None  # the run's ``retry.outcome`` (recovered, escalated…), when retried

    @classmethod
    def of(cls, record: RunRecord) -> HistoryRow:
        if record.run_id is None or record.created_at is None:
            raise ValueError("a stored record (runId and createdAt set)")
        return cls(
            key=record.key,
            run_id=record.run_id,
            created_at=record.created_at,
            trace_id=record.trace_id,
            status=record.status,
            performance_score=record.performance_score,
            p95_latency_ms=record.p95_latency_ms,
            rps=record.rps,
            error_rate=record.error_rate,
            regressed=record.regressed,
            is_baseline=record.is_baseline,
            baseline_obsolete=record.baseline_obsolete,
            validated=record.validated,
            infrastructure_failure=record.infrastructure_failure,
            retry_attempt=record.retry_attempt,
            retry_outcome=retry_outcome(record.metrics),
        )

    def to_wire(self) -> dict[str, Any]:
        """JSON-ready, with the spec's camelCase names."""
        return {
            **self.key.to_wire(),
            "runId": self.run_id,
            "createdAt": self.created_at.isoformat().replace("+00:00", "Z"),
            "traceId": self.trace_id,
            "status": self.status,
            "performanceScore": self.performance_score,
            "p95LatencyMs": self.p95_latency_ms,
            "rps": self.rps,
            "errorRate": self.error_rate,
            "regressed": self.regressed,
            "isBaseline": self.is_baseline,
            "baselineObsolete": self.baseline_obsolete,
            "validated": self.validated,
            "infrastructureFailure": self.infrastructure_failure,
            "retryAttempt": self.retry_attempt,
        }


def retry_outcome(metrics: object) -> str | None:
    """``retry.outcome`` of a stored perf-metrics object, when it holds one."""
    retry = metrics.get("retry") if isinstance(metrics, dict) else None
    outcome = retry.get("outcome") if isinstance(retry, dict) else None
    return outcome if isinstance(outcome, str) else None


def history_rows(
    store: MemoryStore,
    *,
    module_id: str | None = None,
    edition_id: str | None = None,
    test_type: str | None = None,
    endpoint: str | None = None,
    limit: int | None = None,
) -> list[HistoryRow]:
    """Runs matching the filters (``None``: any), series by series in ``SeriesKey.sort_key`` order, each
    series oldest to newest; ``limit`` keeps the newest runs of each series."""
    check_limit(limit)
    runs = store.find(module_id=module_id, edition_id=edition_id, test_type=test_type, endpoint=endpoint)
    by_key: dict[SeriesKey, list[HistoryRow]] = {}
    for record in runs:
        by_key.setdefault(record.key, []).append(HistoryRow.of(record))
    rows: list[HistoryRow] = []
    for key in sorted(by_key, key=SeriesKey.sort_key):
        series = by_key[key]
        rows += series if limit is None else series[max(0, len(series) - limit) :]
    return rows
