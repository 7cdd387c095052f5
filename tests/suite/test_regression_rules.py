"""Issue 4, rule 2: ``regressed`` only when a deciding metric moved past its tolerance and the move is
significant; baselineComparison carries the confidence and the delta's interval.

The baseline is seeded in a SQLite store (one run, or five passes that pool); each current run is judged
as RegressionComparer → PerformanceScorer → ThresholdEvaluator do it.
"""

from __future__ import annotations

import numpy as np
import pytest

from sk_loadagent.memory import MemoryStore
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.suite.sources import Sources


def _seed_baseline(kit, store: MemoryStore, runs: int) -> None:
    for i in range(runs):
        kit.seed_run(store, kit.measured(100, seed=100 + i), at=kit.T0 + kit.hours(i), is_baseline=i == 0)


def _percent(text: str | None) -> float:
    assert text is not None
    assert text.endswith("%")
    return float(text.rstrip("%")) / 100


@pytest.fixture(params=[1, 5], ids=["one-baseline-run", "pooled-5-runs"])
def baseline_runs(request: pytest.FixtureRequest, kit, store: MemoryStore) -> int:
    _seed_baseline(kit, store, request.param)
    return int(request.param)


def test_a_35_percent_slower_run_is_regressed_with_confidence(
    kit, store: MemoryStore, baseline_runs: int
) -> None:
    current = kit.measured(135, seed=1)
    verdict = kit.judged(current, store, Sources())

    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert comparison.metrics is not None
    assert comparison.exploratory is False
    assert comparison.regressed is True
    assert comparison.confidence is not None
    assert comparison.confidence >= 0.9
    assert comparison.metrics["p95"].regressed is True
    base, now = comparison.p95_latency_baseline, comparison.p95_current
    assert base is not None
    assert now is not None
    assert now / base - 1 == pytest.approx(0.35, abs=0.04)
    assert comparison.delta_latency_p95 == f"{now / base - 1:+.0%}"
    interval = comparison.delta_latency_p95_interval
    assert interval is not None
    assert interval.level == 0.95
    assert 0 < _percent(interval.low) < _percent(comparison.delta_latency_p95) < _percent(interval.high)
    assert (
        verdict.status == "degraded"
    )  # a confirmed regression is at least degraded (score 0.95 alone: pass)
    assert verdict.regression is True
    assert any(r.startswith(f"p95 regressed {comparison.delta_latency_p95}") for r in verdict.reasons or [])


def test_an_unchanged_run_is_not_regressed(kit, store: MemoryStore, baseline_runs: int) -> None:
    verdict = kit.judged(kit.measured(100, seed=2), store, Sources())

    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert comparison.metrics is not None
    assert comparison.regressed is False
    assert not any(m.regressed for m in comparison.metrics.values())
    assert comparison.confidence is not None
    assert comparison.confidence >= 0.9
    interval = comparison.delta_latency_p95_interval
    assert interval is not None
    assert _percent(interval.low) < 0 < _percent(interval.high)
    assert (verdict.status, verdict.regression) == ("pass", False)


def test_a_move_within_tolerance_is_not_a_regression(kit, store: MemoryStore) -> None:
    _seed_baseline(kit, store, 5)
    verdict = kit.judged(kit.measured(112, seed=3), store, Sources())
    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert comparison.delta_latency_p95 == "+13%"
    assert comparison.regressed is False
    assert (verdict.status, verdict.regression) == ("pass", False)


@pytest.mark.xfail(
    strict=True,
    reason="analysis.regression flags a +15 % p95 move against a one-run baseline (interval [+1%, +34%]: "
    "significant, and ≥ 10 % of replicates reach +25 %); the rule asks for a move past the +25 % "
    "tolerance. Reported to the lead.",
)
def test_a_15_percent_move_against_one_baseline_run_is_within_tolerance(kit, store: MemoryStore) -> None:
    _seed_baseline(kit, store, 1)
    comparison = kit.judged(kit.measured(115, seed=5), store, Sources()).baseline_comparison
    assert comparison is not None
    assert comparison.delta_latency_p95 == "+15%"
    assert comparison.regressed is False


def test_a_large_move_that_is_not_significant_is_not_a_regression(kit, store: MemoryStore) -> None:
    _seed_baseline(kit, store, 5)
    # Ten noisy requests: the p95 is twice the baseline's, but the interval reaches below 0.
    verdict = kit.judged(kit.measured(135, seed=4, n=10, sigma=0.5), store, Sources())
    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert comparison.delta_latency_p95_interval is not None
    assert _percent(comparison.delta_latency_p95) > 0.25
    assert _percent(comparison.delta_latency_p95_interval.low) < 0
    assert comparison.regressed is False


def test_the_p95_tolerance_is_configurable(kit, store: MemoryStore) -> None:
    _seed_baseline(kit, store, 1)
    relaxed = Sources.from_documents(
        thresholds=[("perf-thresholds.yaml", {"thresholds": {"regression": {"p95": 0.5}}})]
    )
    verdict = kit.judged(kit.measured(135, seed=1), store, relaxed)
    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert comparison.metrics is not None
    assert _percent(comparison.delta_latency_p95) == pytest.approx(0.35, abs=0.04)
    assert comparison.regressed is False
    assert comparison.method is not None
    assert "+50% tolerance" in comparison.method
    assert (verdict.status, verdict.regression) == ("pass", False)


def _flags(test: PerfMetrics) -> dict[str, bool]:
    comparison = test.baseline_comparison
    assert comparison is not None
    assert comparison.metrics is not None
    return {name: delta.regressed for name, delta in comparison.metrics.items()}


def test_a_40_percent_throughput_drop_is_regressed_on_rps_alone(kit, store: MemoryStore) -> None:
    _seed_baseline(kit, store, 1)
    # Offered the baseline's 100 rps (same load profile), the service delivered 60.
    verdict = kit.judged(kit.measured(100, seed=5, rps=60.0, target_rps=100.0), store, Sources())
    assert _flags(verdict) == {"p95": False, "p99": False, "rps": True, "errorRate": False}
    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert comparison.metrics is not None
    assert comparison.regressed is True
    assert _percent(comparison.metrics["rps"].delta) == pytest.approx(-0.40, abs=0.02)
    assert comparison.confidence == comparison.metrics["rps"].confidence
    assert (verdict.status, verdict.regression) == ("degraded", True)


def test_an_error_rate_jump_past_its_absolute_tolerance_is_regressed(kit, store: MemoryStore) -> None:
    _seed_baseline(kit, store, 1)
    jumped = kit.judged(kit.measured(100, seed=6, error_rate=0.05), store, Sources())
    assert _flags(jumped) == {"p95": False, "p99": False, "rps": False, "errorRate": True}
    # 5 % is more than twice the 1 % errorRateMax: a failure condition of its own (spec cycle 11).
    assert (jumped.status, jumped.regression) == ("fail", True)
    assert "error rate 5.0 % is more than twice the 1.0 % errorRateMax (significant): fail" in (
        jumped.reasons or []
    )

    within = kit.judged(kit.measured(100, seed=7, error_rate=0.004), store, Sources())
    assert _flags(within) == {"p95": False, "p99": False, "rps": False, "errorRate": False}
    assert within.status == "pass"


def test_p99_has_its_own_flag_but_does_not_decide(kit, store: MemoryStore) -> None:
    _seed_baseline(kit, store, 5)
    values = kit.latencies_ms(100, seed=9)
    values[np.argsort(values)[-60:]] *= 1.6  # only the slowest 2 % get slower: p99 moves, p95 does not
    verdict = kit.judged(kit.from_latencies(values, seed=9), store, Sources())

    assert _flags(verdict) == {"p95": False, "p99": True, "rps": False, "errorRate": False}
    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert comparison.regressed is False
    assert "p99 moved past its tolerance (reported; p95, rps and error rate decide)" in (
        comparison.notes or []
    )


def test_a_regression_past_twice_the_tolerance_with_a_broken_limit_fails(kit, store: MemoryStore) -> None:
    _seed_baseline(kit, store, 1)
    limits = Sources.from_documents(
        thresholds=[("perf-thresholds.yaml", {"thresholds": {"latencyP95": 200}})]
    )
    verdict = kit.judged(kit.measured(170, seed=8), store, limits)
    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert comparison.regressed is True
    assert _percent(comparison.delta_latency_p95) > 0.5
    assert [v.metric for v in verdict.violations or []] == ["latencyP95"]
    assert (verdict.status, verdict.regression) == ("fail", True)
