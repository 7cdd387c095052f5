"""Studio's views of a run (spec cycles 1, 9, 11, 15 and 19): tile and badge colours, the badge summary,
the score delta and hover details, the build badge, and the files that accumulate across runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_builders import load_pass, regressed_suite, spike_regressed

from sk_loadagent.errors import InputError
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish.badge import badge_svg, write_badge
from sk_loadagent.publish.studio import check_studio_files, write_studio_files
from sk_loadagent.publish.tiles import (
    badge_color,
    badge_sentence,
    hover_details,
    score_delta_vs_baseline,
    tile_color,
)


@pytest.mark.parametrize(
    ("status", "tile", "badge"),
    [
        ("pass", "green", "green"),
        ("warning", "yellow", "yellow"),
        ("degraded", "yellow", "red"),
        ("fail", "red", "red"),
        ("needs-review", "yellow", "yellow"),
        (None, None, None),
    ],
)
def test_colours_follow_the_spec(status: str | None, tile: str | None, badge: str | None) -> None:
    assert (tile_color(status), badge_color(status)) == (tile, badge)


def test_badge_summary_reads_like_cycle_19() -> None:
    # Cycle 19: "p95 latency up 32%, errors at 2.1%, degraded from previous score 0.84"
    assert badge_sentence(spike_regressed()) == (
        "p95 latency up 35% vs baseline, errors at 2.1%, degraded from previous score 0.48"
    )
    first_run = load_pass().model_copy(update={"baseline_comparison": None})
    assert badge_sentence(first_run) == "no baseline yet, no errors, pass"


def test_score_delta_and_hover_details() -> None:
    spike = spike_regressed()
    assert score_delta_vs_baseline(spike) == -0.35
    assert score_delta_vs_baseline(spike.model_copy(update={"baseline_comparison": None})) is None
    details = hover_details(spike)
    assert details is not None
    assert (details["latencyScore"], details["errorRateWeight"], details["deltaLatencyP95"]) == (
        0.99,
        0.2,
        "+35%",
    )
    assert (details["deltaRps"], details["latencyP95"]) == ("+0%", 810.0)
    assert "deltaP95" not in details


def test_the_build_badge_names_score_and_status_in_the_band_colour(tmp_path: Path) -> None:
    path = write_badge(tmp_path, spike_regressed())

    assert path == tmp_path / "badges" / "vetclinic" / "checkoutservice.svg"
    svg = path.read_text()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert ">0.62 degraded</text>" in svg
    assert 'fill="#c62828"' in svg  # red: degraded is below 0.75
    assert 'fill="#2e7d32"' in badge_svg(load_pass())


def test_studio_files_accumulate_runs_per_module_and_edition(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    first = write_studio_files(tmp_path, staging, regressed_suite())
    for name, path in first.items():
        path.replace(tmp_path / path.name)  # what committing the staged run does
        assert name in ("docCoverage", "studioAnalytics")
    write_studio_files(tmp_path, staging, regressed_suite())

    coverage = json.loads((staging / "doc-coverage.metrics.json").read_text())
    module = coverage["modules"][0]
    assert (module["moduleId"], module["editionId"], module["testTypes"]) == (
        "CheckoutService",
        "vetclinic",
        ["load", "spike"],
    )
    assert [p["testType"] for p in module["scoreHistory"]] == ["load", "spike", "load", "spike"]
    analytics = json.loads((staging / "studio.analytics.json").read_text())
    scope = analytics["scopes"][0]
    assert scope["tile"]["loadTestResult"] == {
        "performanceScore": 0.62,
        "status": "degraded",
        "spikeLatencyMs": 810.0,
        "baselineLatencyMs": 600.0,
        "latencyP95Ms": 810.0,
        "rps": 280.0,
        "errorRate": 0.021,
    }
    assert scope["badge"]["badgeColor"] == "red"
    assert scope["retryHeatmap"] == [
        {"testType": "load", "runs": 2, "retried": 0, "retries": 0, "recovered": 0, "escalated": 0},
        {"testType": "spike", "runs": 2, "retried": 2, "retries": 2, "recovered": 0, "escalated": 2},
    ]
    assert [(d["testType"], d["deltaLatencyP95"], d["regressed"]) for d in scope["regressionDeltas"]] == [
        ("load", "+5%", False),
        ("spike", "+35%", True),
    ] * 2


def test_a_broken_studio_file_is_bad_input_and_is_left_as_it_was(tmp_path: Path) -> None:
    broken = '{"modules": [{"moduleId": "CheckoutService", "scoreHistory": [{"score": 1.7}]}]}\n'
    (tmp_path / "doc-coverage.metrics.json").write_text(broken)

    with pytest.raises(InputError) as caught:
        check_studio_files(tmp_path)

    assert str(caught.value) == (
        f"{tmp_path / 'doc-coverage.metrics.json'}: modules[0].scoreHistory[0].score: "
        "expected a number less than or equal to 1, got 1.7"
    )
    with pytest.raises(InputError):
        write_studio_files(tmp_path, tmp_path / "staging", regressed_suite())
    assert (tmp_path / "doc-coverage.metrics.json").read_text() == broken


def test_a_studio_analytics_file_with_a_scope_twice_is_refused(tmp_path: Path) -> None:
    scope = {"moduleId": "CheckoutService", "editionId": "vetclinic"}
    (tmp_path / "studio.analytics.json").write_text(json.dumps({"scopes": [scope, scope]}))

    with pytest.raises(InputError) as caught:
        check_studio_files(tmp_path)

    assert str(caught.value) == (
        f"{tmp_path / 'studio.analytics.json'}: scopes: expected one entry per module and edition "
        '(CheckoutService/vetclinic), got [{"moduleId": "CheckoutService", "editionId": "vetclinic"...'
    )


def test_a_run_without_a_module_leaves_analytics_alone(tmp_path: Path) -> None:
    anonymous = PerfMetrics(performance_score=1.0, status="pass")
    written = write_studio_files(tmp_path, tmp_path / "staging", anonymous)
    assert json.loads(written["studioAnalytics"].read_text())["scopes"] == []


def test_an_empty_or_null_studio_file_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "doc-coverage.metrics.json"
    path.write_text("")
    with pytest.raises(InputError) as empty:
        check_studio_files(tmp_path)
    path.write_text("null\n")
    with pytest.raises(InputError) as null:
        check_studio_files(tmp_path)

    assert (
        str(empty.value)
        == f"{path}: line 1 column 1: expected valid JSON, got a syntax error (Expecting value)"
    )
    assert str(null.value) == f"{path}: <document>: expected a DocCoverage document, got an empty file"
