"""The behaviour every store shares, run against JSON, SQLite and PostgreSQL (fixture ``store_url``)."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from sk_loadagent.errors import MemoryStoreError
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.memory import MemoryStore, RunRecord, SeriesKey, open_store
from sk_loadagent.memory.history import HistoryRow
from sk_loadagent.models.metrics import BaselineComparison, LatencySummary, PerfMetrics

KEY = SeriesKey("vetclinic", "CheckoutService", "load", "/checkout/submit")
T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


def run(key: SeriesKey = KEY, **fields: Any) -> RunRecord:
    scope = {"edition_id": key.edition_id, "module_id": key.module_id, "test_type": key.test_type}
    return RunRecord(**{**scope, "endpoint": key.endpoint, **fields})


def ids(records: list[RunRecord]) -> list[str | None]:
    return [r.trace_id for r in records]


def full_record() -> RunRecord:
    metrics = PerfMetrics(
        trace_id="proj-933-checkout",
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type="spike",
        endpoint="/checkout/submit",
        performance_score=0.58,
        status="degraded",
        rps=95,
        latency=LatencySummary(p50=320, p95=810, p99=1200),
        error_rate=0.025,
        cpu_usage_pct=74.2,
        baseline_comparison=BaselineComparison(regressed=True, delta_latency_p95="+35%", confidence=0.92),
        retry_attempt=1,
        test_start_time=T0,
    )
    histogram = LatencyHistogram.from_values(np.array([0.2, 0.32, 0.81, 1.2]))
    log = [{"event": "score", "performanceScore": 0.58, "components": {"latencyScore": 0.4}}]
    return RunRecord.from_metrics(metrics, histogram=histogram, score_log=log)


@pytest.fixture
def store(store_url: str) -> Any:
    with open_store(store_url) as opened:
        yield opened


def test_round_trip_keeps_every_field_and_survives_reopening(store: MemoryStore, store_url: str) -> None:
    pushed = store.push(full_record())

    assert pushed.run_id is not None
    assert re.fullmatch(r"[0-9a-f]{32}", pushed.run_id)
    assert pushed.created_at is not None
    assert pushed.created_at.tzinfo == UTC
    assert (pushed.p95_latency_ms, pushed.p99_latency_ms, pushed.regressed, pushed.retry_attempt) == (
        810,
        1200,
        True,
        1,
    )
    assert store.get(pushed.run_id) == pushed
    with open_store(store_url) as again:
        assert again.get(pushed.run_id) == pushed
        histogram = again.get(pushed.run_id).histogram()  # type: ignore[union-attr]
    assert histogram is not None
    assert histogram.count == 4
    assert store.get("no-such-run") is None


def test_push_keeps_given_identity_and_refuses_a_second_run_with_that_id(store: MemoryStore) -> None:
    first = store.push(run(run_id="run-1", created_at=T0, trace_id="a", status="pass"))
    assert (first.run_id, first.created_at) == ("run-1", T0)

    with pytest.raises(MemoryStoreError, match="runId: expected a run id not stored yet"):
        store.push(run(run_id="run-1", trace_id="b", status="fail", is_baseline=True))
    assert store.series(KEY) == [first]


def test_series_is_oldest_to_newest_and_limit_keeps_the_newest(store: MemoryStore) -> None:
    # Pushed out of time order; equal times keep the order they were stored in.
    for trace, minutes in [("c", 2), ("a", 0), ("b", 1), ("d", 2), ("e", 3)]:
        store.push(run(trace_id=trace, created_at=T0 + timedelta(minutes=minutes)))

    assert ids(store.series(KEY)) == ["a", "b", "c", "d", "e"]
    assert ids(store.series(KEY, limit=2)) == ["d", "e"]
    assert ids(store.series(KEY, limit=10)) == ["a", "b", "c", "d", "e"]
    assert store.series(KEY, limit=0) == []
    with pytest.raises(MemoryStoreError, match="limit: expected a whole number"):
        store.series(KEY, limit=-1)


def test_keys_match_exactly_and_null_matches_only_null(store: MemoryStore) -> None:
    no_endpoint = SeriesKey("vetclinic", "CheckoutService", "load", None)
    no_edition = SeriesKey(None, "CheckoutService", "load", "/checkout/submit")
    other = SeriesKey("vetclinic-premium", "NotificationService", "spike", None)
    store.push(run(KEY, trace_id="full"))
    store.push(run(no_endpoint, trace_id="no-endpoint"))
    store.push(run(no_edition, trace_id="no-edition"))
    store.push(run(other, trace_id="other"))
    store.push(run(KEY, trace_id="blank-endpoint-is-none", endpoint=" "))  # lands in no_endpoint

    assert ids(store.series(KEY)) == ["full"]
    assert ids(store.series(no_endpoint)) == ["no-endpoint", "blank-endpoint-is-none"]
    assert ids(store.series(SeriesKey("vetclinic", "CheckoutService", "load", ""))) == ids(
        store.series(no_endpoint)
    )
    assert ids(store.series(no_edition)) == ["no-edition"]
    assert store.series(SeriesKey("vetclinic", "CheckoutService", "spike", None)) == []
    assert store.keys() == [no_edition, no_endpoint, KEY, other]

    # In find, a filter left out (None) matches any value.
    assert ids(store.find(module_id="CheckoutService", edition_id="vetclinic")) == [
        "full",
        "no-endpoint",
        "blank-endpoint-is-none",
    ]
    assert ids(store.find(endpoint="/checkout/submit")) == ["full", "no-edition"]
    assert ids(store.find(test_type="spike")) == ["other"]
    assert ids(store.find(limit=2)) == ["other", "blank-endpoint-is-none"]
    assert store.find(module_id="Nope") == []


def test_baseline_flag_moves_within_its_key_only(store: MemoryStore) -> None:
    elsewhere = SeriesKey("vetclinic", "CheckoutService", "spike", "/checkout/submit")
    a = store.push(run(trace_id="a", status="pass", is_baseline=True))
    other = store.push(run(elsewhere, trace_id="other", status="pass", is_baseline=True))
    b = store.push(run(trace_id="b", status="pass", is_baseline=True))  # takes the flag from a

    assert store.baseline(KEY) == b
    assert [r.is_baseline for r in store.series(KEY)] == [False, True]
    assert store.baseline(elsewhere) == other

    store.set_baseline(KEY, str(a.run_id))
    assert [(r.trace_id, r.is_baseline) for r in store.series(KEY)] == [("a", True), ("b", False)]
    assert store.baseline(elsewhere) == other


def test_set_baseline_refuses_a_run_of_another_key_and_changes_nothing(store: MemoryStore) -> None:
    elsewhere = SeriesKey("vetclinic", "CheckoutService", "spike", "/checkout/submit")
    a = store.push(run(trace_id="a", is_baseline=True))
    other = store.push(run(elsewhere, trace_id="other"))

    with pytest.raises(MemoryStoreError, match=r"runId: expected a run of .* got run .* of .*testType=spike"):
        store.set_baseline(KEY, str(other.run_id))
    with pytest.raises(MemoryStoreError, match="got no run missing"):
        store.set_baseline(KEY, "missing")
    assert store.baseline(KEY) == a
    assert store.baseline(elsewhere) is None


def test_last_validated_pass_is_the_newest_validated_passing_run(store: MemoryStore) -> None:
    assert store.last_validated_pass(KEY) is None
    store.push(run(trace_id="old-pass", status="pass", created_at=T0))
    store.push(run(trace_id="newer-pass", status="pass", created_at=T0 + timedelta(minutes=1)))
    store.push(
        run(trace_id="unvalidated", status="pass", validated=False, created_at=T0 + timedelta(minutes=2))
    )
    store.push(run(trace_id="warning", status="warning", created_at=T0 + timedelta(minutes=3)))
    store.push(run(trace_id="failed", status="fail", created_at=T0 + timedelta(minutes=4)))

    found = store.last_validated_pass(KEY)
    assert found is not None
    assert found.trace_id == "newer-pass"
    assert store.get(str(store.series(KEY)[2].run_id)).validated is False  # type: ignore[union-attr]


def test_obsolete_baseline_is_no_baseline_until_a_new_one_is_set(store: MemoryStore) -> None:
    store.mark_obsolete(KEY)  # nothing to mark: no error, nothing stored
    assert store.series(KEY) == []

    a = store.push(run(trace_id="a", status="pass", is_baseline=True))
    b = store.push(run(trace_id="b", status="pass"))
    store.mark_obsolete(KEY)

    assert store.baseline(KEY) is None
    marked = store.get(str(a.run_id))
    assert marked is not None
    assert (marked.is_baseline, marked.baseline_obsolete) == (True, True)
    assert store.last_validated_pass(KEY) == b

    store.set_baseline(KEY, str(a.run_id))  # re-baselining clears the obsolete flag
    assert store.baseline(KEY) == a
    store.mark_obsolete(KEY)
    store.set_baseline(KEY, str(b.run_id))
    assert store.baseline(KEY) == b.model_copy(update={"is_baseline": True})
    assert store.get(str(a.run_id)).is_baseline is False  # type: ignore[union-attr]


def test_threads_sharing_one_store_lose_nothing(store: MemoryStore) -> None:
    def push_some(worker: int) -> None:
        for i in range(10):
            store.push(run(trace_id=f"{worker}-{i}", is_baseline=i % 3 == 0))

    threads = [threading.Thread(target=push_some, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(str(i) for i in ids(store.series(KEY))) == sorted(
        f"{w}-{i}" for w in range(4) for i in range(10)
    )
    assert sum(r.is_baseline for r in store.series(KEY)) == 1


def test_a_closed_store_says_so(store_url: str) -> None:
    with open_store(store_url) as store:
        store.push(run(trace_id="a"))
    with pytest.raises(MemoryStoreError, match="the store is closed"):
        store.series(KEY)
    store.close()  # closing twice is harmless


def test_rows_are_the_series_as_history_rows_without_reading_perf_metrics(store: MemoryStore) -> None:
    retried = full_record().model_copy(
        update={"metrics": {**full_record().metrics, "retry": {"retryAttempt": 1, "outcome": "recovered"}}}
    )
    store.push(retried.model_copy(update={"trace_id": "a", "created_at": T0}))
    for trace, minutes in [("c", 2), ("b", 1)]:
        store.push(
            full_record().model_copy(
                update={"trace_id": trace, "created_at": T0 + timedelta(minutes=minutes)}
            )
        )
    key = full_record().key

    rows = store.rows(key)

    assert rows == [HistoryRow.of(record) for record in store.series(key)]
    assert [r.trace_id for r in rows] == ["a", "b", "c"]
    assert [r.retry_outcome for r in rows] == ["recovered", None, None]
    assert [r.trace_id for r in store.rows(key, limit=2)] == ["b", "c"]
    assert store.rows(KEY) == []
    with pytest.raises(MemoryStoreError, match="limit: expected a whole number"):
        store.rows(key, limit=-1)
