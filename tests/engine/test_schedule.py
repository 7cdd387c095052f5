"""The arrival schedule: counts are the integral of the rate, and worker shares interleave exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sk_loadagent.engine._schedule import ArrivalSchedule, RateSegment, VuSegment, vus_at


def test_constant_rate_times_are_i_over_rate() -> None:
    s = ArrivalSchedule([RateSegment(0.0, 2.0, 50.0, 50.0)])
    assert s.total == 100
    times, variants = s.times(np.arange(s.total))
    np.testing.assert_allclose(times, np.arange(100) / 50.0)
    assert set(variants.tolist()) == {0}


def test_ramp_count_is_the_integral_and_times_follow_the_quadratic() -> None:
    s = ArrivalSchedule([RateSegment(0.0, 10.0, 0.0, 100.0)])
    assert s.total == 500  # (0 + 100) / 2 * 10
    times, _ = s.times(np.arange(s.total))
    # N(t) = 100 t^2 / (2 * 10) = 5 t^2  ->  t_i = sqrt(i / 5)
    np.testing.assert_allclose(times, np.sqrt(np.arange(500) / 5.0), atol=1e-9)
    assert np.all(np.diff(times) > 0)


def test_piecewise_schedule_with_falling_and_zero_rates() -> None:
    segments = [
        RateSegment(0.0, 2.0, 10.0, 10.0, variant=0),
        RateSegment(2.0, 4.0, 0.0, 0.0, variant=1),
        RateSegment(4.0, 6.0, 30.0, 10.0, variant=2),
    ]
    s = ArrivalSchedule(segments)
    assert s.total == 20 + 0 + 40
    times, variants = s.times(np.arange(s.total))
    assert np.all(np.diff(times) >= 0)
    assert not np.any((times >= 2.0) & (times < 4.0))
    assert variants.tolist() == [0] * 20 + [2] * 40
    assert s.arrivals_between(0.0, 2.0) == 20
    assert s.arrivals_between(4.0, 6.0) == 40
    assert ((times >= 4.0) & (times < 5.0)).sum() == s.arrivals_between(4.0, 5.0) == 25  # (30 + 20) / 2


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_worker_shares_interleave_into_the_single_schedule(workers: int) -> None:
    s = ArrivalSchedule([RateSegment(0.0, 3.0, 5.0, 40.0)])
    whole, _ = s.times(np.arange(s.total))
    parts = [s.times(np.arange(k, s.total, workers))[0] for k in range(workers)]
    assert sum(s.share(k, workers) for k in range(workers)) == s.total
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), whole)


def test_fractional_integral_rounds_up() -> None:
    s = ArrivalSchedule([RateSegment(0.0, 1.0, 2.5, 2.5)])
    assert s.total == math.ceil(2.5) == 3
    times, _ = s.times(np.arange(3))
    assert times[-1] < 1.0


def test_vus_follow_the_linear_target_rounded_down() -> None:
    segments = [VuSegment(0.0, 10.0, 0.0, 10.0), VuSegment(10.0, 20.0, 10.0, 10.0)]
    assert vus_at(segments, 0.0) == 0
    assert vus_at(segments, 0.99) == 0
    assert vus_at(segments, 1.0) == 1
    assert vus_at(segments, 9.5) == 9
    assert vus_at(segments, 15.0) == 10
    assert vus_at(segments, 20.0) == 0
