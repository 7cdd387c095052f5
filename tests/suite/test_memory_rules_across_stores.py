"""The baseline life cycle of spec cycles 11 and 17 on every kind of store (JSON, SQLite, PostgreSQL): the
first pass becomes the baseline, a confidently faster pass with a better score replaces it, three
regressions retire it, it is still compared against, and the next pass replaces it. The outcome rests on each
store's baseline flags.
"""

from __future__ import annotations

from typing import Any

from sk_loadagent.memory import MemoryStore
from sk_loadagent.suite.remember import push_test
from sk_loadagent.suite.sources import Sources

# Memory near its quota costs the score (0.97 at 95 of 100 MB), so a later run can improve on it.
QUOTA = Sources.from_documents(thresholds=[("perf-thresholds.yaml", {"thresholds": {"memoryUsageMax": 100}})])


def test_the_baseline_life_cycle_is_the_same_on_every_store(kit, any_store: MemoryStore) -> None:
    def run(median: float, seed: int, memory_mb: float = 50.0) -> tuple[Any, dict[str, Any]]:
        test = kit.measured(median, seed=seed, memory_usage_mb=memory_mb, cpu_usage_pct=20.0)
        verdict = kit.judged(test, any_store, QUOTA)
        return verdict, push_test(verdict, any_store)

    first, pushed = run(120, 1, memory_mb=95.0)
    assert (first.status, first.performance_score) == ("pass", 0.97)
    assert (pushed["baseline"], pushed["reason"]) == (True, "first passing run of this scope")

    same, pushed = run(120, 2)
    assert (same.status, same.performance_score, pushed["baseline"]) == ("pass", 1.0, False)

    faster, promoted = run(90, 3)
    assert (faster.status, faster.performance_score) == ("pass", 1.0)
    assert (promoted["baseline"], promoted["reason"]) == (True, "improved with confidence")

    slow = [run(170, 10 + i) for i in range(3)]
    # +90 % p95: past twice the tolerance, and past the memory-derived limit (baseline p95 × 1.25): fail.
    assert [(v.status, v.regression) for v, _ in slow] == [("fail", True)] * 3
    assert all([x.source for x in v.violations or []] == ["memory"] for v, _ in slow)
    assert [p["baselineObsolete"] for _, p in slow] == [False, False, True]
    assert any_store.baseline(kit.KEY) is None

    # Still compared with the obsolete baseline: the slow service keeps failing, never exploratory.
    again, pushed = run(170, 20)
    assert (again.status, again.exploratory, again.regression, pushed["baseline"]) == (
        "fail",
        False,
        True,
        False,
    )

    recovered, pushed = run(90, 21)
    assert (recovered.status, recovered.exploratory) == ("pass", False)
    assert (pushed["baseline"], pushed["reason"]) == (True, "replaces the obsolete baseline")

    stored = any_store.series(kit.KEY)
    assert [(r.is_baseline, r.baseline_obsolete, r.regressed) for r in stored] == [
        (False, False, False),
        (False, False, False),
        (False, True, False),  # the promoted run: retired after three regressions, then replaced
        (False, False, True),
        (False, False, True),
        (False, False, True),
        (False, False, True),
        (True, False, False),
    ]
    baseline = any_store.baseline(kit.KEY)
    assert baseline is not None
    assert baseline.run_id == pushed["runId"]
