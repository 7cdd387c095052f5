"""RunRecord and SeriesKey: what a record accepts, how it is normalised, and what it refuses."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from pydantic import ValidationError

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.memory import RunRecord, SeriesKey
from sk_loadagent.models.metrics import LatencySummary, PerfMetrics, RetryInfo


def test_from_metrics_takes_the_scope_figures_and_the_whole_document() -> None:
    metrics = PerfMetrics(
        trace_id="proj-945",
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type="load",
        endpoint="/checkout/submit",
        performance_score=0.79,
        status="warning",
        rps=80,
        latency=LatencySummary(p50=200, p95=480, p99=700),
        error_rate=0.004,
        retry=RetryInfo(retry_attempt=2, strategy="throttled"),
        latency_histogram=LatencyHistogram.from_values(np.array([0.2, 0.48])).to_sparse(),
    )

    record = RunRecord.from_metrics(
        metrics, score_log=[{"event": "retry", "retryAttempt": 2}], is_baseline=True
    )

    assert record.key == SeriesKey("vetclinic", "CheckoutService", "load", "/checkout/submit")
    assert (record.trace_id, record.status, record.performance_score) == ("proj-945", "warning", 0.79)
    assert (record.p95_latency_ms, record.p99_latency_ms, record.rps, record.error_rate) == (
        480,
        700,
        80,
        0.004,
    )
    assert (record.retry_attempt, record.regressed, record.is_baseline, record.validated) == (
        2,
        False,
        True,
        True,
    )
    assert record.metrics == metrics.to_wire()
    assert record.latency_histogram == metrics.latency_histogram
    histogram = record.histogram()
    assert histogram is not None
    assert histogram.count == 2
    assert record.run_id is None
    assert record.created_at is None


def test_json_fields_hold_their_json_form() -> None:
    record = RunRecord(metrics={"tags": ("a", "b"), "byCode": {200: 5}}, score_log=[{"at": 1}])
    assert record.metrics == {"tags": ["a", "b"], "byCode": {"200": 5}}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"metrics": {"p95": math.nan}}, "metrics"),
        ({"metrics": {"when": datetime.now(UTC)}}, "metrics"),
        ({"score_log": [{"x": math.inf}]}, "scoreLog"),
        ({"latency_histogram": {"index": [1, 2], "count": [1]}}, "latencyHistogram"),
        ({"latency_histogram": {"relativeError": 0.05, "index": [], "count": []}}, "latencyHistogram"),
        ({"p95_latency_ms": math.inf}, "p95LatencyMs"),
        ({"rps": -1}, "rps"),
        ({"performance_score": 1.2}, "performanceScore"),
        ({"status": "great"}, "status"),
        ({"run_id": ""}, "runId"),
        ({"retry_attempt": -1}, "retryAttempt"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_values_never_make_a_record(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RunRecord(**fields)
    located = {str(error["loc"][0]) for error in caught.value.errors()}
    assert located & {field, _snake(field)}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def test_created_at_is_kept_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert RunRecord(created_at=datetime(2025, 1, 31, 14, 0, tzinfo=plus_two)).created_at == datetime(
        2025, 1, 31, 12, 0, tzinfo=UTC
    )
    assert RunRecord(created_at=datetime(2025, 1, 31, 12, 0)).created_at == datetime(
        2025, 1, 31, 12, 0, tzinfo=UTC
    )


def test_blank_key_parts_are_none_in_records_and_keys() -> None:
    record = RunRecord(module_id=" CheckoutService ", edition_id="", endpoint="  ")
    assert record.key == SeriesKey(None, "CheckoutService", None, None)
    assert SeriesKey(" ", "M", "load", "") == SeriesKey(None, "M", "load", None)
    assert (
        str(SeriesKey("vetclinic", "M", "load", None))
        == "module=M edition=vetclinic testType=load endpoint=- profile=-"
    )
    assert SeriesKey("e", "M").to_wire() == {
        "editionId": "e",
        "moduleId": "M",
        "testType": None,
        "endpoint": None,
        "loadProfile": None,
    }


def test_wire_form_is_camel_case_and_reads_back() -> None:
    record = RunRecord(
        run_id="r1", created_at=datetime(2025, 1, 31, tzinfo=UTC), p95_latency_ms=420, is_baseline=True
    )
    wire = record.to_wire(exclude_none=False)
    assert wire["runId"] == "r1"
    assert wire["p95LatencyMs"] == 420
    assert wire["isBaseline"] is True
    assert wire["createdAt"] == "2025-01-31T00:00:00Z"
    assert RunRecord.model_validate(wire) == record
