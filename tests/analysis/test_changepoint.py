"""E-divisive change points: detection and false-alarm rates over many seeds, and the rules around them."""

from __future__ import annotations

import numpy as np
import pytest

from sk_loadagent.analysis import change_points


def _noise(rng: np.random.Generator, level: float, n: int) -> np.ndarray:
    return level * (1 + rng.uniform(-0.05, 0.05, n))  # ±5 % uniform noise


def test_ten_percent_step_in_five_percent_noise_is_found_within_two_builds():
    found = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        step = int(rng.integers(5, 26))
        series = np.concatenate([_noise(rng, 100, step), _noise(rng, 110, 30 - step)])
        points = change_points(series, seed=seed)
        found += any(abs(p.index - step) <= 2 for p in points)
    assert found >= 97  # measured: 100 of 100


def test_pure_noise_has_no_change_point():
    alarms = sum(
        bool(change_points(_noise(np.random.default_rng(5000 + s), 100, 30), seed=s)) for s in range(100)
    )
    assert alarms <= 3  # α = 0.05 per series, with the 5 % magnitude floor; measured: 0.2 % over 1,000 seeds


def test_change_point_describes_both_sides():
    rng = np.random.default_rng(1)
    series = np.concatenate([_noise(rng, 100, 15), _noise(rng, 120, 15)])
    (point,) = change_points(series)
    assert point.index == 15
    assert point.before_mean == pytest.approx(series[:15].mean())
    assert point.after_mean == pytest.approx(series[15:].mean())
    assert point.rel_change == pytest.approx(point.after_mean / point.before_mean - 1)
    assert point.p_value <= 0.01


def test_two_changes_are_both_found_by_recursion():
    rng = np.random.default_rng(2)
    series = np.concatenate([_noise(rng, 100, 12), _noise(rng, 125, 12), _noise(rng, 100, 12)])
    assert [p.index for p in change_points(series)] == [12, 24]


def test_changes_below_the_minimum_magnitude_are_ignored():
    rng = np.random.default_rng(3)
    series = np.concatenate([100 + rng.uniform(-0.1, 0.1, 15), 103 + rng.uniform(-0.1, 0.1, 15)])
    assert change_points(series) == []  # +3 % is certain but below the 5 % default
    assert [p.index for p in change_points(series, min_magnitude=0.01)] == [15]


def test_results_are_reproducible_for_a_seed():
    rng = np.random.default_rng(4)
    series = np.concatenate([_noise(rng, 100, 10), _noise(rng, 108, 10)])
    assert change_points(series, seed=7) == change_points(series, seed=7)


def test_short_series_and_constant_series_have_none():
    assert change_points([100.0, 101.0, 99.0, 130.0, 131.0]) == []
    assert change_points([50.0] * 30) == []


@pytest.mark.parametrize("series", [[1.0, float("nan"), 2.0], [[1.0, 2.0]]])
def test_bad_series_is_rejected(series):
    with pytest.raises(ValueError, match="1-D series of finite numbers"):
        change_points(series)
