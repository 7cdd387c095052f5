"""Memory rules over stored runs: baseline choice, promotion, obsolescence, score regressions, editions,
change points and run-to-run noise calibration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sk_loadagent.analysis import (
    DEFAULT_RUN_NOISE,
    HistoryEntry,
    Verdict,
    baseline_pool,
    edition_deviation,
    measured_runs,
    obsolete_after_regressions,
    obsolete_suggestion,
    p95_run_noise,
    run_noise_for,
    score_regression,
    select_baseline,
    series_change_points,
    should_promote,
)
from sk_loadagent.models.metrics import BaselineComparison

START = datetime(2026, 1, 1, tzinfo=UTC)


def _entry(
    i: int, status: str = "pass", score: float | None = 0.95, p95: float | None = 100.0, **flags
) -> HistoryEntry:
    return HistoryEntry(
        run_id=f"r{i}",
        trace_id=f"t{i}",
        created_at=START + timedelta(hours=i),
        status=status,
        score=score,
        p95=p95,
        **flags,
    )


def test_flagged_baseline_wins_over_later_passes():
    entries = [_entry(1), _entry(2, is_baseline=True), _entry(3), _entry(4, status="degraded")]
    baseline = select_baseline(list(reversed(entries)))  # order of the input does not matter
    assert baseline is not None
    assert baseline.run_id == "r2"


def test_without_a_flag_the_last_validated_pass_is_the_baseline():
    entries = [_entry(1), _entry(2, validated=False), _entry(3, regressed=True), _entry(4, status="warning")]
    baseline = select_baseline(entries)
    assert baseline is not None
    assert baseline.run_id == "r1"


def test_an_obsolete_baseline_is_compared_against_until_a_validated_pass_follows_it():
    obsolete = _entry(2, is_baseline=True, baseline_obsolete=True)
    entries = [_entry(1), obsolete, _entry(3, status="degraded", regressed=True)]
    assert select_baseline(entries) == obsolete  # not None: the series is never exploratory again
    assert baseline_pool(entries) == [obsolete]
    unusable = [_entry(4, validated=False), _entry(5, infrastructure_failure=True)]
    assert select_baseline([*entries, *unusable]) == obsolete
    baseline = select_baseline([*entries, _entry(4)])
    assert baseline is not None
    assert baseline.run_id == "r4"


def test_an_infrastructure_failure_is_never_a_baseline_nor_calibrates_noise():
    outage = _entry(2, infrastructure_failure=True)
    assert select_baseline([_entry(1, status="fail"), outage]) is None
    assert [e.run_id for e in measured_runs([_entry(3), outage, _entry(1)])] == ["r1", "r3"]
    steady = [_entry(i, p95=100.0 * (1.02 if i % 2 else 0.98)) for i in range(10)]
    wild = [_entry(20 + i, p95=5.0 if i % 2 else 900.0, infrastructure_failure=True) for i in range(10)]
    assert p95_run_noise(steady + wild) == p95_run_noise(steady)


def test_no_history_means_no_baseline():
    assert select_baseline([]) is None
    assert baseline_pool([]) == []


def test_baseline_pool_is_the_baseline_and_equivalent_runs_after_it():
    entries = [
        _entry(0),
        _entry(1, is_baseline=True),
        _entry(2),
        _entry(3, regressed=True, status="degraded"),
        _entry(4),
        _entry(5),
        _entry(6),
        _entry(7),
    ]
    assert [e.run_id for e in baseline_pool(entries, size=4)] == ["r1", "r5", "r6", "r7"]
    assert [e.run_id for e in baseline_pool(entries, size=1)] == ["r1"]


def _comparison(**fields) -> BaselineComparison:
    return BaselineComparison(exploratory=False, regressed=False, **fields)


PASS = Verdict("pass", [], False)


def test_first_pass_of_a_series_becomes_the_baseline():
    assert should_promote(PASS, BaselineComparison(exploratory=True), 0.9, None) is True
    assert should_promote(Verdict("warning", [], False), None, 0.8, None) is False


def test_a_pass_replaces_an_obsolete_baseline_but_an_outage_never_becomes_one():
    obsolete = _entry(1, score=1.0, is_baseline=True, baseline_obsolete=True)
    assert should_promote(PASS, _comparison(improvement_confidence=0.1), 0.91, obsolete) is True
    assert should_promote(PASS, None, 1.0, None, infrastructure_failure=True) is False
    assert should_promote(PASS, None, 1.0, obsolete, infrastructure_failure=True) is False


def test_promotion_needs_a_better_score_and_a_confident_improvement():
    baseline = _entry(1, score=0.90)
    assert should_promote(PASS, _comparison(improvement_confidence=0.97), 0.95, baseline) is True
    assert should_promote(PASS, _comparison(improvement_confidence=0.80), 0.95, baseline) is False
    assert (
        should_promote(PASS, _comparison(improvement_confidence=0.97), 0.90, baseline) is False
    )  # not better
    assert (
        should_promote(PASS, _comparison(improvement_confidence=0.97), 0.904, baseline) is False
    )  # 0.90 written
    assert (
        should_promote(Verdict("pass", [], True), _comparison(improvement_confidence=0.97), 0.95, baseline)
        is False
    )
    assert should_promote(PASS, None, 0.95, baseline) is False


def test_three_consecutive_regressions_make_the_baseline_obsolete():
    entries = [_entry(1, is_baseline=True)] + [
        _entry(i, status="degraded", regressed=True) for i in (2, 3, 4)
    ]
    assert obsolete_after_regressions(entries) is True
    assert obsolete_after_regressions(entries[:-1]) is False
    assert obsolete_after_regressions([*entries, _entry(5)]) is False
    # Outages neither count toward the three nor break the streak.
    outages = [_entry(i, status="fail", regressed=True, infrastructure_failure=True) for i in (5, 6, 7)]
    assert obsolete_after_regressions([*entries[:2], *outages]) is False
    assert (
        obsolete_after_regressions([*entries[:3], *outages, _entry(8, status="fail", regressed=True)]) is True
    )
    assert obsolete_suggestion() == (
        "baseline obsolete after 3 consecutive regressions: "
        "re-baseline or revise the p95 threshold / the test"
    )


def test_score_regression_rules():
    prev = _entry(1, score=0.94)
    assert score_regression(prev, _entry(2, score=0.78)) == "score fell 0.16 (0.94 → 0.78) since run r1"
    assert score_regression(prev, _entry(2, score=0.79)) is None  # exactly 0.15 is not more than 0.15
    assert (
        score_regression(prev, _entry(2, status="degraded", score=0.93))
        == "status went from pass to degraded since run r1"
    )
    both = score_regression(prev, _entry(2, status="fail", score=0.4))
    assert both == "score fell 0.54 (0.94 → 0.40) and status went from pass to fail since run r1"
    assert score_regression(None, _entry(2)) is None


def test_edition_deviation_against_the_base_edition():
    p95 = {"vetclinic": 500.0, "vetclinic-premium": 590.0, "multitenant-lite": 450.0}
    assert edition_deviation(p95) == {"vetclinic-premium": "+18%", "multitenant-lite": "-10%"}
    assert edition_deviation(p95, base_edition="multitenant-lite") == {
        "vetclinic": "+11%",
        "vetclinic-premium": "+31%",
    }
    assert edition_deviation({}) == {}
    assert edition_deviation(p95, base_edition="unknown") == {}


def test_series_change_points_name_the_run_where_the_regime_starts():
    rng = np.random.default_rng(0)
    p95 = np.concatenate([100 * (1 + rng.uniform(-0.05, 0.05, 15)), 112 * (1 + rng.uniform(-0.05, 0.05, 15))])
    entries = [_entry(i, p95=float(v)) for i, v in enumerate(p95)]
    entries.insert(5, _entry(99, p95=None, status="fail"))  # a run without latency is skipped
    found = series_change_points(entries)
    ((point),) = found.points
    assert (point.last_before.run_id, point.first_after.run_id) == ("r14", "r15")
    assert point.index == point.point.index == 15
    assert (found.analysed, found.with_p95, found.windowed) == (30, 30, False)
    assert series_change_points(entries[:4]).points == []


def test_series_change_points_wire_form_names_both_sides_of_the_change():
    entries = [_entry(i, p95=100.0 + (i % 3) if i < 10 else 0.0) for i in range(10)]
    entries += [_entry(10 + i, p95=130.0 + (i % 3)) for i in range(10)]
    ((point),) = series_change_points(entries).points
    mark = point.mark().to_wire()
    assert mark == {
        "index": 10,
        "runIdBefore": "r9",
        "traceIdBefore": "t9",
        "runIdAfter": "r10",
        "traceIdAfter": "t10",
        "p95Before": pytest.approx(100.9, abs=0.01),
        "p95After": pytest.approx(130.9, abs=0.01),
        "relChange": "+30%",
        "magnitude": pytest.approx(0.2292, abs=0.0001),
        "pValue": mark["pValue"],
    }
    assert 0 < mark["pValue"] <= 0.05


def test_series_change_points_keep_to_the_latest_window_and_count_from_the_series_start():
    entries = [_entry(i, p95=100.0 + (i % 4)) for i in range(30)]
    entries += [_entry(30 + i, p95=140.0 + (i % 4)) for i in range(10)]
    found = series_change_points(entries, window=16)
    assert (found.analysed, found.with_p95, found.windowed) == (16, 40, True)
    ((point),) = found.points
    assert point.index == 30  # in the whole series; 6 within the window
    assert point.point.index == 6
    assert point.first_after.run_id == "r30"


@pytest.mark.parametrize("true_noise", [0.03, 0.08, 0.15])
def test_run_noise_is_calibrated_from_history(true_noise):
    rng = np.random.default_rng(int(true_noise * 1000))
    entries = [_entry(i, p95=float(100 * np.exp(rng.normal(0, true_noise)))) for i in range(20)]
    estimate = p95_run_noise(entries)
    assert estimate is not None
    assert estimate == pytest.approx(true_noise, rel=0.5)
    assert run_noise_for(entries) == max(DEFAULT_RUN_NOISE, estimate)


def test_run_noise_ignores_a_level_shift_and_needs_enough_runs():
    levels = [100.0] * 10 + [150.0] * 10
    estimate = p95_run_noise([_entry(i, p95=v * (1 + 0.01 * (-1) ** i)) for i, v in enumerate(levels)])
    assert estimate is not None
    assert estimate < 0.05
    assert p95_run_noise([_entry(i) for i in range(5)]) is None
    assert run_noise_for([_entry(i) for i in range(5)]) == DEFAULT_RUN_NOISE
