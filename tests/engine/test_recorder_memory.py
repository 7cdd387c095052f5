"""What a worker keeps of its raw samples: compact storage that gives back exactly what was recorded, and
nothing at all when the schedule alone exceeds the sample budget (a soak's memory stays flat)."""

from __future__ import annotations

import math

import numpy as np

from sk_loadagent.engine._recorder import Recorder
from sk_loadagent.engine._requests import outcome_table
from sk_loadagent.engine._worker import _share
from sk_loadagent.engine.result import Outcome, Phase


def recorder(budget: int) -> Recorder:
    return Recorder(
        t0=100.0,
        window_seconds=1.0,
        phases=[Phase("steady", 0.0, 10.0, measured=True)],
        late_threshold=0.005,
        sample_budget=budget,
        bytes_out=[50, 1074],
        outcome_table=outcome_table(None),
    )


def test_kept_samples_come_back_exact_with_bytes_out_rebuilt() -> None:
    rec = recorder(budget=1000)
    rec.response(100.0, 100.001, 100.003, 200, 3_000_000_000, 1)  # a body over 2 GiB keeps 64 bits
    rec.failure(100.5, 100.5, Outcome.CONNECT_REFUSED, 0, 1)  # never sent: no bytes out
    rec.flush()
    rec.response(100.2, 100.2, 100.25, 503, 120, 0)
    rec.flush()
    s = rec.samples()
    np.testing.assert_allclose(s.start, [0.0, 0.2, 0.5], atol=1e-12)  # sorted by intended start
    np.testing.assert_allclose(s.latency[:2], [0.003, 0.05], atol=1e-12)
    assert math.isnan(s.latency[2])
    assert s.bytes_in.tolist() == [3_000_000_000, 120, 0]
    assert s.bytes_in.dtype == np.int64
    assert s.bytes_out.tolist() == [1074, 50, 0]
    assert s.bytes_out.dtype == np.int64
    assert s.outcome.tolist() == [Outcome.OK, Outcome.HTTP_5XX, Outcome.CONNECT_REFUSED]
    assert rec.complete


def test_keep_no_samples_still_counts_everything_in_the_windows() -> None:
    rec = recorder(budget=1000)
    rec.keep_no_samples()
    for k in range(10):
        rec.response(100.0 + k / 10, 100.0 + k / 10, 100.002 + k / 10, 200, 10, 0)
    rec.flush()
    assert not rec.complete
    assert len(rec.samples()) == 0
    assert rec.windows[0].requests == 10
    assert rec.windows[0].latency.count == 10
    assert rec.requests == 10


def test_worker_shares_of_a_schedule_add_up_to_it() -> None:
    for arrivals in (0, 1, 10, 18_000_000):
        shares = [_share(arrivals, k, 3) for k in range(3)]
        assert sum(shares) == arrivals
        assert max(shares) - min(shares) <= 1
