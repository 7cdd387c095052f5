"""Issue 4, rule 3: the history rules of spec cycles 11 and 17 as RegressionComparer, ThresholdEvaluator and
MemoryPusher apply them to a SQLite store.

- the last validated pass is the baseline; with none the run is exploratory and the preview says so;
- a passing run whose score improves, with P(p95 lower) > 0.85, becomes the new baseline;
- three consecutive regressions make the baseline obsolete and suggest a threshold or test change; the
  obsolete baseline is still compared against until a validated pass replaces it;
- a score drop > 0.15 or pass → degraded/fail is a regression;
- editionDeviation compares editions; a step change in the stored p95 series is reported.
"""

from __future__ import annotations

import pytest

from sk_loadagent.memory import MemoryStore
from sk_loadagent.models.metrics import BaselineComparison, LatencySummary, PerfMetrics
from sk_loadagent.publish.artifacts import preview
from sk_loadagent.suite.assemble import suite_metrics
from sk_loadagent.suite.judge import compare_test, evaluate_test
from sk_loadagent.suite.sources import Sources

OBSOLETE = (
    "baseline obsolete after 3 consecutive regressions: re-baseline or revise the p95 threshold / the test"
)


def _comparison(kit, store: MemoryStore, test: PerfMetrics) -> BaselineComparison:
    comparison = compare_test(test, None, store, Sources()).baseline_comparison
    assert comparison is not None
    return comparison


# -- baseline selection ----------------------------------------------------------------------------------


def test_the_last_validated_pass_is_the_baseline(kit, store: MemoryStore) -> None:
    first = kit.seed_run(store, kit.measured(100, seed=1), at=kit.T0, is_baseline=True)
    last_pass = kit.seed_run(store, kit.measured(100, seed=2), at=kit.T0 + kit.hours(1))
    kit.seed_run(store, kit.measured(100, seed=3), at=kit.T0 + kit.hours(2), validated=False)
    kit.seed_run(
        store, kit.measured(140, seed=4), at=kit.T0 + kit.hours(3), status="degraded", regressed=True
    )
    kit.seed_run(store, kit.measured(100, seed=5), at=kit.T0 + kit.hours(4), status="fail", score=0.4)

    comparison = _comparison(kit, store, kit.measured(100, seed=6))

    assert comparison.exploratory is False
    assert (comparison.baseline_run_id, comparison.baseline_trace_id) == (last_pass.run_id, "proj-2")
    assert comparison.baseline_status == "pass"
    # The flagged baseline and the passes that matched it after it are pooled (less run-to-run noise).
    assert comparison.method is not None
    assert "baseline pooled from 2 runs" in comparison.method
    assert store.last_validated_pass(kit.KEY) == last_pass
    assert store.baseline(kit.KEY) == first


@pytest.mark.parametrize("history", ["empty", "only-failures"])
def test_without_a_baseline_the_run_is_exploratory_and_the_preview_says_so(
    kit, store: MemoryStore, history: str
) -> None:
    if history == "only-failures":
        kit.seed_run(store, kit.measured(300, seed=1), at=kit.T0, status="fail", score=0.3)
        kit.seed_run(store, kit.measured(100, seed=2), at=kit.T0 + kit.hours(1), validated=False)

    verdict = kit.judged(kit.measured(100, seed=3), store, Sources())

    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert (comparison.exploratory, comparison.regressed) == (True, False)
    assert comparison.notes == ["no baseline: exploratory"]
    assert (verdict.status, verdict.exploratory, verdict.regression) == ("pass", True, False)
    assert "no baseline: exploratory, nothing to regress against" in (verdict.reasons or [])
    tile = preview(suite_metrics([verdict]))
    assert tile.exploratory is True
    assert tile.tile_summary is not None
    assert "No baseline yet: exploratory run." in tile.tile_summary


def test_the_first_pass_of_a_scope_becomes_its_baseline(kit, store: MemoryStore, judge_and_push) -> None:
    verdict, pushed = judge_and_push(kit.measured(100, seed=1))
    assert verdict.exploratory is True
    assert (pushed["baseline"], pushed["reason"]) == (True, "first passing run of this scope")
    baseline = store.baseline(kit.KEY)
    assert baseline is not None
    assert baseline.run_id == pushed["runId"]


# -- promotion -------------------------------------------------------------------------------------------


def test_a_faster_pass_with_a_better_score_becomes_the_new_baseline(
    kit, store: MemoryStore, judge_and_push
) -> None:
    old = kit.seed_run(store, kit.measured(100, seed=1), at=kit.T0, is_baseline=True, score=0.93)

    verdict, pushed = judge_and_push(kit.measured(80, seed=2))

    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert comparison.improvement_confidence is not None
    assert comparison.improvement_confidence > 0.85
    assert (verdict.status, verdict.performance_score) == ("pass", 1.0)
    assert (pushed["baseline"], pushed["reason"]) == (True, "improved with confidence")
    baseline = store.baseline(kit.KEY)
    assert baseline is not None
    assert baseline.run_id == pushed["runId"] != old.run_id
    assert store.get(str(old.run_id)).is_baseline is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("median", "baseline_score", "why"),
    [
        (100, 0.93, "a better score but p95 not confidently lower"),
        (80, 1.0, "confidently faster but the score cannot improve on 1.00"),
    ],
)
def test_a_pass_that_does_not_confidently_improve_keeps_the_old_baseline(
    kit, store: MemoryStore, judge_and_push, median: float, baseline_score: float, why: str
) -> None:
    old = kit.seed_run(store, kit.measured(100, seed=1), at=kit.T0, is_baseline=True, score=baseline_score)

    verdict, pushed = judge_and_push(kit.measured(median, seed=2))

    assert verdict.status == "pass", why
    assert pushed["baseline"] is False, why
    assert store.baseline(kit.KEY) == old


# -- obsolete after three regressions --------------------------------------------------------------------


def test_three_consecutive_regressions_make_the_baseline_obsolete(
    kit, store: MemoryStore, judge_and_push
) -> None:
    kit.seed_run(store, kit.measured(100, seed=1), at=kit.T0, is_baseline=True)

    outcomes = [judge_and_push(kit.measured(140, seed=10 + i)) for i in range(3)]

    assert [v.regression for v, _ in outcomes] == [True, True, True]
    assert [p["baselineObsolete"] for _, p in outcomes] == [False, False, True]
    assert outcomes[2][1]["suggestion"] == OBSOLETE
    assert store.baseline(kit.KEY) is None
    assert [r.regressed for r in store.series(kit.KEY)] == [False, True, True, True]

    # The next run is still compared with the obsolete baseline, with a note: it regresses again.
    verdict, pushed = judge_and_push(kit.measured(140, seed=20))
    comparison = verdict.baseline_comparison
    assert comparison is not None
    assert (comparison.exploratory, comparison.baseline_obsolete, comparison.regressed) == (False, True, True)
    assert comparison.notes is not None
    assert comparison.notes[-2:] == [
        OBSOLETE,
        "compared with the obsolete baseline (run proj-1) until a validated pass replaces it",
    ]
    assert (verdict.status, verdict.exploratory, pushed["baseline"]) == ("degraded", False, False)

    # A validated pass (the service recovered) replaces it.
    verdict, pushed = judge_and_push(kit.measured(100, seed=21))
    assert (verdict.status, pushed["baseline"], pushed["reason"]) == (
        "pass",
        True,
        "replaces the obsolete baseline",
    )
    baseline = store.baseline(kit.KEY)
    assert baseline is not None
    assert baseline.run_id == pushed["runId"]


def test_a_pass_between_regressions_resets_the_count(kit, store: MemoryStore, judge_and_push) -> None:
    kit.seed_run(store, kit.measured(100, seed=1), at=kit.T0, is_baseline=True)
    medians = [140, 140, 100, 140]
    pushed = [judge_and_push(kit.measured(m, seed=30 + i))[1] for i, m in enumerate(medians)]
    assert [p["status"] for p in pushed] == ["degraded", "degraded", "pass", "degraded"]
    assert not any(p["baselineObsolete"] for p in pushed)
    assert store.baseline(kit.KEY) is not None


# -- score drop and status downgrade ---------------------------------------------------------------------


def _against_baseline(score: float, *, baseline_score: float, error_rate: float = 0.0) -> PerfMetrics:
    """A scored test whose p95 equals the baseline's: only the score or the status can make it regress."""
    return PerfMetrics(
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type="load",
        endpoint="/checkout/submit",
        latency=LatencySummary(p50=50, p95=100, p99=120),
        rps=100.0,
        target_rps=100.0,
        test_duration=10.0,  # the load of ``kit.measured``: the same series as the baseline seeded there
        requests=3000,
        error_rate=error_rate,
        performance_score=score,
        baseline_comparison=BaselineComparison(
            p95_latency_baseline=100.0,
            p95_current=100.0,
            delta_latency_p95="+0%",
            regressed=False,
            exploratory=False,
            baseline_score=baseline_score,
            baseline_status="pass",
        ),
    )


@pytest.mark.parametrize(
    ("score", "status", "regression"),
    [
        (0.79, "warning", True),  # 0.95 → 0.79: a drop of 0.16
        (0.80, "warning", False),  # 0.95 → 0.80: exactly 0.15 is not more than 0.15
    ],
)
def test_a_score_drop_above_015_is_a_regression(score: float, status: str, regression: bool) -> None:
    verdict = evaluate_test(_against_baseline(score, baseline_score=0.95), Sources())
    assert (verdict.status, verdict.regression) == (status, regression)
    drop = [r for r in verdict.reasons or [] if r.startswith("score fell")]
    assert drop == (
        ["score fell 0.16 (0.95 → 0.79) vs the baseline, more than 0.15: regression"] if regression else []
    )


def test_pass_to_fail_is_a_regression_without_any_metric_regressing() -> None:
    # Error rate 3 % against the 1 % default: more than twice the limit → fail; the score barely moved.
    verdict = evaluate_test(_against_baseline(0.90, baseline_score=0.95, error_rate=0.03), Sources())
    assert (verdict.status, verdict.regression) == ("fail", True)
    assert "status went from pass (baseline) to fail: regression" in (verdict.reasons or [])


def test_a_status_regression_is_stored_as_a_regression(kit, store: MemoryStore) -> None:
    from sk_loadagent.suite.remember import push_test

    kit.seed_run(store, kit.measured(100, seed=1), at=kit.T0, is_baseline=True)
    verdict = evaluate_test(_against_baseline(0.90, baseline_score=0.95, error_rate=0.03), Sources())
    pushed = push_test(verdict, store)
    assert pushed["status"] == "fail"
    assert store.series(kit.KEY)[-1].regressed is True


# -- editions and change points --------------------------------------------------------------------------


def test_edition_deviation_compares_the_latest_run_of_each_edition(kit, store: MemoryStore) -> None:
    older = kit.seed_run(store, kit.measured(150, seed=1), at=kit.T0)
    base = kit.seed_run(store, kit.measured(100, seed=2), at=kit.T0 + kit.hours(1))
    lite = kit.seed_run(
        store, kit.measured(130, seed=3, edition="multitenant-lite"), at=kit.T0 + kit.hours(2)
    )
    current = kit.measured(118, seed=4, edition="vetclinic-premium")

    comparison = _comparison(kit, store, current)

    assert older.p95_latency_ms != base.p95_latency_ms
    assert base.p95_latency_ms
    assert lite.p95_latency_ms
    assert current.latency
    assert current.latency.p95
    # vetclinic is the base: its id prefixes vetclinic-premium; its latest run counts.
    assert comparison.edition_deviation == {
        "vetclinic-premium": f"{current.latency.p95 / base.p95_latency_ms - 1:+.0%}",
        "multitenant-lite": f"{lite.p95_latency_ms / base.p95_latency_ms - 1:+.0%}",
    }
    assert comparison.edition_deviation["vetclinic-premium"] == "+20%"


def test_a_step_change_in_the_stored_series_is_reported_on_its_first_run(kit, store: MemoryStore) -> None:
    runs = [
        kit.seed_run(
            store, kit.measured(100 if i < 6 else 150, seed=i), at=kit.T0 + kit.hours(i), is_baseline=i == 0
        )
        for i in range(12)
    ]

    comparison = _comparison(kit, store, kit.measured(150, seed=50))

    assert comparison.change_points == [6]
    step = [n for n in comparison.notes or [] if n.startswith("change point")]
    assert len(step) == 1
    assert step[0].startswith(f"change point at run {runs[6].trace_id}: p95 ")
    assert "(+50%, p=0.015)" in step[0]
    (detail,) = comparison.change_point_details or []
    assert (detail.index, detail.rel_change, detail.p_value) == (6, "+50%", 0.015)
    assert (detail.run_id_before, detail.run_id_after) == (runs[5].run_id, runs[6].run_id)
    assert (detail.trace_id_before, detail.trace_id_after) == (runs[5].trace_id, runs[6].trace_id)
    wire = comparison.to_wire()
    assert wire["changePoints"] == [6]
    assert wire["changePointDetails"][0]["runIdAfter"] == runs[6].run_id


def test_a_steady_series_has_no_change_point(kit, store: MemoryStore) -> None:
    for i in range(12):
        kit.seed_run(store, kit.measured(100, seed=i), at=kit.T0 + kit.hours(i), is_baseline=i == 0)
    comparison = _comparison(kit, store, kit.measured(100, seed=50))
    assert comparison.change_points is None
    assert comparison.change_point_details is None
    assert not [n for n in comparison.notes or [] if n.startswith("change point")]
