"""The files we write: trace map, preview, score log, trace summary, doc coverage, baseline entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sk_loadagent.errors import InputError
from sk_loadagent.models import (
    LatencySummary,
    LoadTraceMap,
    PerfBaseline,
    PerfMetrics,
    PerformancePreview,
    RetryLine,
    RetryWith,
    ScoreLine,
    ScoreLogEntry,
    ScorePoint,
    Span,
    StepLine,
    ThresholdLine,
    TraceMapEntry,
    TraceSummary,
    load_score_log,
    parse_score_log,
    score_log_line,
    validate_document,
)
from sk_loadagent.models.doc_coverage import DocCoverage

RUN = PerfMetrics(
    trace_id="proj-933-checkout",
    module_id="CheckoutService",
    edition_id="vetclinic",
    test_type="spike",
    endpoint="/checkout/submit",
    method="POST",
    status="degraded",
    performance_score=0.58,
    rps=95,
    error_rate=0.025,
    requests=5700,
    latency=LatencySummary(p50=320, p95=810, p99=1200),
)


def test_trace_map_from_metrics_uses_the_canonical_spelling() -> None:
    doc = LoadTraceMap.from_metrics([RUN])
    assert doc.to_wire() == {
        "traceId": "proj-933-checkout",
        "editionId": "vetclinic",
        "moduleId": "CheckoutService",
        "tests": [
            {
                "endpoint": "/checkout/submit",
                "method": "POST",
                "testType": "spike",
                "status": "degraded",
                "latencyP50": 320,
                "latencyP95": 810,
                "latencyP99": 1200,
                "errorRate": 0.025,
                "rps": 95,
                "requests": 5700,
                "performanceScore": 0.58,
            }
        ],
    }


def test_trace_map_canonical_rewrites_the_cycle4_spelling() -> None:
    entry = TraceMapEntry.model_validate({"endpoint": "/a", "result": "degraded", "p95LatencyMs": 810})
    assert entry.canonical().model_dump(mode="json", by_alias=True, exclude_unset=True) == {
        "endpoint": "/a",
        "status": "degraded",
        "latencyP95": 810,
    }


def test_trace_map_entry_p95_spellings_must_agree() -> None:
    with pytest.raises(InputError) as caught:
        validate_document({"tests": [{"latencyP95": 500, "p95LatencyMs": 510}]}, LoadTraceMap, "map.yaml")
    assert str(caught.value) == (
        "map.yaml: tests[0].p95LatencyMs: "
        "expected the same value as latencyP95 (500) when both are given, got 510"
    )


def test_preview_with_retry_and_badge_fields() -> None:
    data = {
        "traceId": "proj-955-notify-client",
        "status": "warning",
        "performanceScore": 0.79,
        "retryAttempt": 2,
        "previousStatus": "degraded",
        "previousScore": 0.62,
        "badge": "Recovered after retry",
        "badgeColor": "yellow",
        "tileColor": "yellow",
        "exploratory": False,
        "scoreDeltaVsBaseline": -0.05,
        "hoverDetails": {"latencyScore": 0.84, "deltaLatencyP95": "+12%"},
    }
    preview = validate_document(data, PerformancePreview, "studio.performance.preview.json")
    assert preview.model_dump(mode="json", by_alias=True, exclude_unset=True) == data
    with pytest.raises(InputError):
        validate_document({**data, "badgeColor": "purple"}, PerformancePreview, "preview.json")


def test_score_log_write_then_read(tmp_path: Path) -> None:
    at = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    lines: list[ScoreLogEntry] = [
        StepLine(
            step="LoadRunnerExecutor.run_load_tests", duration_ms=12034.5, outcome="ok", trace_id="t", at=at
        ),
        ThresholdLine(
            metric="latencyP95", limit=500, source="perf-thresholds.yaml", observed=810, breached=True
        ),
        ScoreLine(
            latency_score=0.4,
            throughput_score=1,
            error_rate_score=0.9,
            resource_utilization_score=1,
            baseline_delta_score=0.6,
            final_score=0.7,
            status="degraded",
        ),
        RetryLine(retry_attempt=1, strategy="throttled", adjustments=RetryWith(rps=60, duration=30)),
    ]
    path = tmp_path / "performance-score.log.jsonl"
    path.write_text("".join(score_log_line(line) + "\n" for line in lines), encoding="utf-8")
    written = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    assert [w["event"] for w in written] == ["step", "threshold", "score", "retry"]
    assert written[0]["at"] == "2025-03-14T09:30:00Z"
    assert written[3]["adjustments"] == {"rps": 60, "duration": "30s"}
    assert load_score_log(path) == lines


def test_bare_lines_are_recognised_by_their_fields() -> None:
    text = "\n".join(
        [
            '{"step": "RegressionComparer.compare_with_baseline", "durationMs": 3, "outcome": "skipped"}',
            '{"metric": "errorRate", "limit": 0.01, "source": "default"}',
            '{"retryAttempt": 1, "originalStatus": "fail"}',
        ]
    )
    kinds = [type(line) for line in parse_score_log(text, "log.jsonl")]
    assert kinds == [StepLine, ThresholdLine, RetryLine]


def test_trace_summary_from_spans() -> None:
    spans = [
        Span(name="SubmitCheckout", start_ms=0, end_ms=1170),
        Span(name="ChargeCard", parent_id="1", start_ms=20, end_ms=400),
        Span(name="SendConfirmationEmail", parent_id="1", start_ms=400, end_ms=1150, error=False),
    ]
    summary = TraceSummary.from_spans(spans, trace_id="proj-888-checkout", baseline_duration_ms=936)
    assert summary.span_count == 3
    assert summary.longest_span == "SubmitCheckout"
    assert summary.duration_ms == 1170
    assert summary.span_delta_vs_baseline == "+25%"
    with pytest.raises(InputError) as caught:
        validate_document(
            {"spanCount": 2, "spans": [{"name": "a", "startMs": 5, "endMs": 1}]}, TraceSummary, "t.json"
        )
    assert str(caught.value) == "t.json: spans[0].endMs: expected a time not before startMs (5), got 1"


def test_doc_coverage_records_runs() -> None:
    first = ScorePoint(trace_id="b1", score=0.91, status="pass", at=datetime(2025, 3, 1, tzinfo=UTC))
    second = ScorePoint(trace_id="b2", score=0.62, status="degraded", at=datetime(2025, 3, 2, tzinfo=UTC))
    doc = DocCoverage().with_run(
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type="load",
        endpoint="/checkout/submit",
        point=first,
    )
    doc = doc.with_run(
        module_id="NotificationService", edition_id="vetclinic", test_type="spike", endpoint=None, point=first
    )
    doc = doc.with_run(
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type="spike",
        endpoint="/checkout/submit",
        point=second,
    )
    checkout = doc.coverage("CheckoutService", "vetclinic")
    assert checkout is not None
    assert (checkout.test_types, checkout.endpoints) == (["load", "spike"], ["/checkout/submit"])
    assert [p.trace_id for p in checkout.score_history] == ["b1", "b2"]
    assert checkout.latest() == second
    assert [m.module_id for m in doc.modules] == ["CheckoutService", "NotificationService"]
    assert doc.updated_at == second.at
    kept = doc.with_run(
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type=None,
        endpoint=None,
        point=first,
        keep=2,
    )
    coverage = kept.coverage("CheckoutService", "vetclinic")
    assert coverage is not None
    assert [p.trace_id for p in coverage.score_history] == ["b2", "b1"]
    wire = kept.to_wire()
    assert validate_document(wire, DocCoverage, "doc-coverage.metrics.json") == kept


def test_baseline_from_metrics_is_the_cycle17_form() -> None:
    entry = PerfBaseline.from_metrics(RUN)
    assert entry.p95() == 810
    assert entry.model_dump(mode="json", by_alias=True, exclude_unset=True) == {
        "traceId": "proj-933-checkout",
        "moduleId": "CheckoutService",
        "editionId": "vetclinic",
        "testType": "spike",
        "endpoint": "/checkout/submit",
        "latency": {"p50": 320, "p95": 810, "p99": 1200},
        "rps": 95,
        "errorRate": 0.025,
        "performanceScore": 0.58,
        "status": "degraded",
    }


def test_baseline_keeps_whole_metrics_documents() -> None:
    data = {
        "traceId": "t",
        "latency": {"p95": 530},
        "baselineComparison": {"regressed": False},
        "tags": ["x"],
    }
    entry = validate_document(data, PerfBaseline, "perf-baseline.memory.json")
    assert entry.model_dump(mode="json", by_alias=True, exclude_unset=True) == data
    with pytest.raises(InputError) as caught:
        validate_document({"p95LatencyMs": 500, "latency": {"p95": 530}}, PerfBaseline, "b.json")
    assert (
        str(caught.value)
        == "b.json: p95LatencyMs: expected the same value as latency.p95 (530) when both are given, got 500"
    )
