"""Every example of the spec, typed in as a fixture, loads into its model and is written back unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from sk_loadagent.models import (
    BadgeSummary,
    LoadTraceMap,
    PerfBaseline,
    PerfMetrics,
    PerformancePreview,
    PerfThresholds,
    RegressionAlert,
    RetryLine,
    ScoreLine,
    ScoreLogLine,
    StudioTile,
    TestSuitePlan,
    TraceSummary,
    load_document,
    load_score_log,
    read_document,
)

FIXTURES = Path(__file__).parent / "fixtures"

EXAMPLES: dict[str, type[BaseModel]] = {
    "c01_studio-tile.json": StudioTile,
    "c03_test-suite.plan.yaml": TestSuitePlan,
    "c03_perf-thresholds.yaml": PerfThresholds,
    "c03_perf-baseline.memory.json": PerfBaseline,
    "c04_perf-metrics.json": PerfMetrics,
    "c04_load-trace-map.yaml": LoadTraceMap,
    "c04_studio.performance.preview.json": PerformancePreview,
    "c04_regression-alert.yaml": RegressionAlert,
    "c07_perf-metrics.json": PerfMetrics,
    "c08_perf-thresholds.yaml": PerfThresholds,
    "c08_baseline-comparison.json": PerfMetrics,
    "c10_trace-summary.json": TraceSummary,
    "c11_regression-alert.yaml": RegressionAlert,
    "c14_perf-thresholds-multi.yaml": PerfThresholds,
    "c15_perf-metrics-score.json": PerfMetrics,
    "c16_perf-metrics.json": PerfMetrics,
    "c16_load-trace-map.yaml": LoadTraceMap,
    "c16_studio.performance.preview.json": PerformancePreview,
    "c16_regression-alert.yaml": RegressionAlert,
    "c17_memory-entry.json": PerfBaseline,
    "c18_retry.json": ScoreLogLine,
    "c19_studio.performance.preview.json": PerformancePreview,
    "c19_badge-summary.yaml": BadgeSummary,
}


def test_every_fixture_has_a_model() -> None:
    on_disk = {p.name for p in FIXTURES.iterdir() if not p.name.endswith(".jsonl")}
    assert on_disk == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_round_trips(name: str) -> None:
    original = read_document(FIXTURES / name)
    model = load_document(FIXTURES / name, EXAMPLES[name])
    assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == original


def test_plan_durations_come_back_as_written() -> None:
    plan = load_document(FIXTURES / "c03_test-suite.plan.yaml", TestSuitePlan)
    assert [t.duration for t in plan.tests] == [300.0, 60.0]
    dumped = plan.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert [t["duration"] for t in dumped["tests"]] == ["5m", "1m"]


def test_retry_example_is_a_retry_line_with_a_duration() -> None:
    line = load_document(FIXTURES / "c18_retry.json", ScoreLogLine).root
    assert isinstance(line, RetryLine)
    assert line.strategy == "throttled"
    assert line.adjustments is not None
    assert line.adjustments.duration == 180.0
    assert line.retry_result is not None
    assert line.retry_result.status == "warning"


def test_scoring_log_example_is_a_score_line() -> None:
    (line,) = load_score_log(FIXTURES / "c16_score.log.jsonl")
    assert isinstance(line, ScoreLine)
    assert line.final_score == 0.89
    assert line.model_dump(mode="json", by_alias=True, exclude_unset=True) == {
        "latencyScore": 0.88,
        "throughputScore": 0.91,
        "errorRateScore": 0.99,
        "baselineDeltaScore": 0.76,
        "resourceUtilizationScore": 0.85,
        "finalScore": 0.89,
    }


def test_both_baseline_spellings_give_the_p95() -> None:
    cycle3 = load_document(FIXTURES / "c03_perf-baseline.memory.json", PerfBaseline)
    cycle17 = load_document(FIXTURES / "c17_memory-entry.json", PerfBaseline)
    assert (cycle3.p95(), cycle3.endpoint) == (420, "/checkout/submit")
    assert (cycle17.p95(), cycle17.endpoint) == (530, None)


def test_both_trace_map_spellings_read_the_same() -> None:
    cycle4 = load_document(FIXTURES / "c04_load-trace-map.yaml", LoadTraceMap).tests[0]
    cycle16 = load_document(FIXTURES / "c16_load-trace-map.yaml", LoadTraceMap).tests[0]
    assert (cycle4.outcome(), cycle4.p95()) == ("degraded", 810)
    assert (cycle16.outcome(), cycle16.p95()) == ("pass", 580)


def test_three_alert_spellings_give_cause_and_actions() -> None:
    c4 = load_document(FIXTURES / "c04_regression-alert.yaml", RegressionAlert)
    c11 = load_document(FIXTURES / "c11_regression-alert.yaml", RegressionAlert)
    c16 = load_document(FIXTURES / "c16_regression-alert.yaml", RegressionAlert)
    assert c4.cause() == "Latency exceeded edition threshold and regressed vs. memory baseline"
    assert c11.cause() == "Latency p95 regressed 31% from baseline"
    assert c16.cause() == "p95 latency increased 34% vs. baseline"
    assert c4.actions()[0] == "Rerun with reduced RPS"
    assert c11.actions()[1] == "Retry with reduced load"
    assert c16.actions() == ["Review flamegraph", "Notify DeveloperAgent", "Retry with tuned concurrency"]


def test_multi_edition_thresholds_scope_each_entry() -> None:
    doc = load_document(FIXTURES / "c14_perf-thresholds-multi.yaml", PerfThresholds)
    scopes = doc.scopes()
    assert [(s.module_id, s.edition_id, s.limits.latency_limit("p95")) for s in scopes] == [
        ("NotificationService", "vetclinic", 500),
        ("NotificationService", "vetclinic-premium", 650),
        ("NotificationService", "multitenant-lite", 400),
    ]
