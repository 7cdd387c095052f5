"""report.html: its view models hold the run's own figures, the page is self-contained, and a 30-minute
soak's report stays small."""

from __future__ import annotations

import json
import re
from pathlib import Path

from report_builders import load_pass, regressed_suite, series, soak_30_minutes

from sk_loadagent.publish.report import ReportInputs, build_report, render_report, write_report
from sk_loadagent.publish.report.build import MAX_POINTS, spelled_fraction


def inputs(explanation: str | None = None) -> ReportInputs:
    suite = regressed_suite()
    history = {t.test_index or 0: series(t) for t in suite.tests or []}
    return ReportInputs(suite=suite, history=history, explanation=explanation)


def test_one_tile_per_test_with_status_colour_score_regression_and_retry_badge() -> None:
    report = build_report(inputs())

    tiles = [(t.title, t.status, t.color, t.score, t.regression, t.retry_badge) for t in report.tiles]
    assert tiles == [
        ("checkout-load", "pass", "green", 0.97, False, None),
        ("checkout-spike", "degraded", "yellow", 0.62, True, "Escalated for review (1 retry)"),
    ]
    assert report.tiles[1].actions == ["retry-with-throttle", "compare-baseline", "annotate"]
    assert (report.status, report.color, report.counts) == ("degraded", "yellow", {"pass": 1, "degraded": 1})


def test_timeline_charts_draw_percentiles_with_their_limits_and_the_failed_rate() -> None:
    spike = build_report(inputs()).tests[1]

    latency, throughput, in_flight = spike.timeline
    assert [line.role for line in latency.lines] == ["p50", "p95", "p99"]
    assert [(rule.role, rule.value) for rule in latency.rules] == [("limit-p95", 800.0)]
    assert [(mark.label, mark.x) for mark in latency.marks] == [("recovered", 24.0)]
    assert [(s.label, s.measured) for s in latency.spans] == [
        ("baseline", False),
        ("spike", True),
        ("recovery", True),
    ]
    failed = next(line for line in throughput.lines if line.role == "failed")
    assert failed.points[11:13] == [(11.0, 0.0), (12.0, 2.0)]  # 2 errors in the 1 s window from t=12
    assert [line.role for line in in_flight.lines] == ["inFlight"]
    assert latency.note is None  # 30 points are drawn as measured


def test_distribution_comparison_score_and_limits_come_from_the_metrics() -> None:
    spike = build_report(inputs()).tests[1]

    assert spike.distribution is not None
    assert sum(bar.value for bar in spike.distribution.bars) == 2500
    assert [m.label for m in spike.distribution.rules] == [
        "p50 210 ms",
        "p95 810 ms",
        "p99 1400 ms",
        "p95 limit 800 ms",
    ]
    assert spike.comparison is not None
    p95 = spike.comparison.intervals[0]
    assert (p95.metric, p95.delta, p95.low, p95.high, p95.regressed) == ("p95", 0.35, 0.22, 0.49, True)
    assert [(r.component, r.weight, r.value, r.contribution) for r in spike.score] == [
        ("latency", 0.35, 0.99, 0.3465),
        ("throughput", 0.25, 0.6, 0.15),
        ("errorRate", 0.2, 0.2, 0.04),
        ("resourceUtilization", 0.1, 1.0, 0.1),
        ("baselineDelta", 0.1, 0.0, 0.0),
    ]
    assert [(lim.metric, lim.violated, lim.observed) for lim in spike.limits] == [
        ("latencyP95", True, 810.0),
        ("errorRateMax", False, 0.021),
    ]
    assert spike.errors is not None
    assert [(b.label, b.value) for b in spike.errors.bars] == [("http5xx", 40.0), ("timeout", 12.0)]
    assert spike.findings[0].startswith("Spike 30 → 300 rps: p95 120 ms at baseline, 810 ms in the spike;")


def test_history_marks_baseline_limit_change_point_and_this_run() -> None:
    load = build_report(inputs()).tests[0]

    trend, score = load.history
    assert [(r.role, r.value) for r in trend.rules] == [("baseline", 33.0), ("limit-p95", 60.0)]
    assert [(m.role, m.x) for m in trend.marks] == [("current", 11), ("change", 5.5)]
    assert trend.marks[1].label == "change +24% (p=0.010)"
    assert [dot.color for dot in trend.dots] == ["green"] * 12
    assert [r.value for r in score.rules] == [0.9, 0.75, 0.5]
    assert load.history_note == "the latest 12 runs of the series"


def test_retry_heatmap_and_coverage_map() -> None:
    report = build_report(inputs())

    heatmap = report.retry_heatmap
    assert heatmap is not None
    assert heatmap.rows == ["checkout-load", "checkout-spike"]
    assert heatmap.columns[-1] == "this run"
    recovered = [c for c in heatmap.cells if c.color == "yellow"]
    assert [(c.row, c.column, c.value) for c in recovered] == [(0, 8, 1), (1, 8, 1)]
    assert report.coverage is not None
    assert [(c.edition, c.endpoint, c.test_type, c.status) for c in report.coverage.cells] == [
        ("vetclinic", "/checkout/submit", "load", "pass"),
        ("vetclinic", "/checkout/submit", "spike", "degraded"),
    ]


def test_without_memory_the_report_says_why_there_is_no_history() -> None:
    suite = regressed_suite()
    html = render_report(build_report(ReportInputs(suite=suite, history={}, memory_note="no memory here")))

    assert html.count("no memory here") == 2
    assert "memory not read: this run only" in html


def test_the_page_loads_nothing_and_holds_the_verdict() -> None:
    html = render_report(build_report(inputs(explanation="Spike p95 rose 35 %.")))

    assert re.findall(r"<(?:script|link|img|iframe)\b", html) == []
    assert re.findall(r"(?:src|href)=\"(?!#)", html) == []
    assert "default-src 'none'" in html
    assert "p95 regressed +35% [+22%, +49%] vs the baseline (confidence 1.00): at least degraded" in html
    assert html.count('class="tile ') == 2
    assert "Spike p95 rose 35 %." in html
    assert "&#34;" not in html.split("</style>")[0]  # the stylesheet is not HTML-escaped


def test_views_serialise_to_json_for_other_renderers() -> None:
    report = build_report(inputs())

    data = json.loads(report.model_dump_json())
    assert data["tiles"][1]["title"] == "checkout-spike"
    assert data["tests"][0]["history"][0]["x_kind"] == "runs"


def test_a_30_minute_soak_is_downsampled_for_drawing_and_the_report_stays_under_5_mb(tmp_path: Path) -> None:
    soak = soak_30_minutes()
    report = build_report(ReportInputs(suite=soak, history={0: series(soak, runs=100)}))

    latency = report.tests[0].timeline[0]
    assert len(latency.lines[1].points) == MAX_POINTS
    assert latency.note == (
        "1,800 seconds drawn as 600 points: each shows the highest latency and in-flight count and the mean "
        "rate of 3 seconds (perf-metrics.json keeps every second)"
    )
    # The wave's highest p95 survives downsampling (each point is its bucket's maximum).
    assert max(y for _, y in latency.lines[1].points if y is not None) == max(
        p.p95 for p in soak.timeline or [] if p.p95 is not None
    )
    path = write_report(tmp_path, ReportInputs(suite=soak, history={0: series(soak, runs=100)}))
    assert path.stat().st_size < 5_000_000
    assert [t.title for t in report.tests[0].tables] == ["Soak windows"]
    assert [c.title for c in report.tests[0].type_charts] == [
        "Soak: p95 per window",
        "Soak: target memory per window",
    ]


def test_spelled_changes_read_back_as_fractions() -> None:
    assert [spelled_fraction(s) for s in ("+35%", "-3%", "+1.2pp", "n/a", None)] == [
        0.35,
        -0.03,
        0.012,
        None,
        None,
    ]


def test_a_test_without_timeline_or_histogram_still_renders() -> None:
    bare = load_pass().model_copy(update={"timeline": None, "latency_histogram": None, "phases": None})
    view = build_report(ReportInputs(suite=bare, history={})).tests[0]
    assert (view.timeline, view.distribution) == ([], None)
    assert "checkout-load" in render_report(build_report(ReportInputs(suite=bare, history={})))


def test_names_from_the_plan_are_escaped_in_text_and_in_the_charts() -> None:
    hostile = load_pass().model_copy(
        update={
            "test_name": '<script>alert("x")</script>',
            "endpoint": '/a"><img src=x>',
            "load_profile": "<marquee>",
        }
    )
    html = render_report(build_report(ReportInputs(suite=hostile, history={0: series(hostile)})))

    assert re.findall(r"<(?:script|img|marquee)\b", html) == []
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
