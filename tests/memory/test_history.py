"""history_rows: runs grouped by series, each series oldest to newest, with the figures a table shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sk_loadagent.memory import HistoryRow, RunRecord, SeriesKey, history_rows, open_store

T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
LOAD = SeriesKey("vetclinic", "CheckoutService", "load", "/checkout/submit")
SPIKE = SeriesKey("vetclinic", "CheckoutService", "spike", "/checkout/submit")
OTHER = SeriesKey("vetclinic-premium", "NotificationService", "spike", None)


def push(store: object, key: SeriesKey, trace: str, minutes: int, **fields: object) -> None:
    scope = {"edition_id": key.edition_id, "module_id": key.module_id, "test_type": key.test_type}
    record = RunRecord(
        **{
            **scope,
            "endpoint": key.endpoint,
            "trace_id": trace,
            "created_at": T0 + timedelta(minutes=minutes),
            **fields,
        }
    )
    store.push(record)  # type: ignore[attr-defined]


def test_rows_are_grouped_by_series_and_ordered_in_time(tmp_path: Path) -> None:
    with open_store(tmp_path / "memory.db") as store:
        push(store, SPIKE, "s1", 0, status="pass", performance_score=0.9, p95_latency_ms=500, rps=300)
        push(store, LOAD, "l2", 5, status="degraded", regressed=True, error_rate=0.02)
        push(store, OTHER, "o1", 1)
        push(store, LOAD, "l1", 2, status="pass", is_baseline=True)
        push(store, LOAD, "l3", 9, status="pass", retry_attempt=1)

        rows = history_rows(store)
        assert [(row.key, row.trace_id) for row in rows] == [
            (LOAD, "l1"),
            (LOAD, "l2"),
            (LOAD, "l3"),
            (SPIKE, "s1"),
            (OTHER, "o1"),
        ]
        assert [row.is_baseline for row in rows[:3]] == [True, False, False]
        assert (rows[1].status, rows[1].regressed, rows[1].error_rate) == ("degraded", True, 0.02)
        assert (rows[3].performance_score, rows[3].p95_latency_ms, rows[3].rps) == (0.9, 500, 300)

        assert [row.trace_id for row in history_rows(store, test_type="spike")] == ["s1", "o1"]
        assert [
            row.trace_id for row in history_rows(store, module_id="CheckoutService", test_type="load")
        ] == [
            "l1",
            "l2",
            "l3",
        ]
        assert [row.trace_id for row in history_rows(store, edition_id="vetclinic", limit=2)] == [
            "l2",
            "l3",
            "s1",
        ]
        assert history_rows(store, module_id="Nope") == []


def test_a_row_reads_out_in_camel_case(tmp_path: Path) -> None:
    with open_store(tmp_path / "memory.json") as store:
        push(store, LOAD, "l1", 0, status="pass", performance_score=0.91, p95_latency_ms=420, run_id="r1")
        (row,) = history_rows(store)
    assert isinstance(row, HistoryRow)
    assert row.to_wire() == {
        "editionId": "vetclinic",
        "moduleId": "CheckoutService",
        "testType": "load",
        "endpoint": "/checkout/submit",
        "loadProfile": None,
        "runId": "r1",
        "createdAt": "2025-01-31T12:00:00Z",
        "traceId": "l1",
        "status": "pass",
        "performanceScore": 0.91,
        "p95LatencyMs": 420.0,
        "rps": None,
        "errorRate": None,
        "regressed": False,
        "isBaseline": False,
        "baselineObsolete": False,
        "validated": True,
        "infrastructureFailure": False,
        "retryAttempt": 0,
    }
