"""The report benchmark's pieces: its soak plan is valid and its made-up history belongs to the soak's
series."""

from __future__ import annotations

from datetime import UTC, datetime
from types import ModuleType

import pytest
from bench_scripts import import_bench_module as _import
from report_builders import soak_30_minutes

from sk_loadagent.memory import RunRecord
from sk_loadagent.models.plan import TestSuitePlan


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _import("report_bench")


def test_the_soak_plan_validates(bench: ModuleType) -> None:
    plan = TestSuitePlan.model_validate(bench.soak_plan(30, 50))
    assert [(t.type, t.rps, t.duration) for t in plan.tests] == [("soak", 50, 1800.0)]


def test_earlier_runs_precede_the_run_in_its_series_within_5_percent(bench: ModuleType) -> None:
    soak = soak_30_minutes().model_copy(update={"test_start_time": None})
    now = datetime(2026, 11, 30, tzinfo=UTC)
    record = RunRecord.from_metrics(soak).model_copy(update={"run_id": "now", "created_at": now})

    runs = bench.earlier_runs(record, 99)

    assert len(runs) == 99
    assert {r.key for r in runs} == {record.key}
    assert all(r.created_at < record.created_at for r in runs)
    assert [r.is_baseline for r in runs].count(True) == 1
    assert all(abs(r.p95_latency_ms / record.p95_latency_ms - 1) <= 0.05 for r in runs)
