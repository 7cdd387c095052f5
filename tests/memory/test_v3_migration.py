"""Stores written by schema 2 (main before issue 8) open as schema 3 without losing a run.

The fixtures hold what main's code wrote for one series: a 50 rps baseline, two outage runs (every connection
reset, stored as regressed failures), a 5 rps run and a run stored without phases. Migration derives each
run's load profile and infrastructure-failure flag from its stored perf-metrics and splits the series by
profile; the run without phases keeps an unknown profile.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sk_loadagent.memory import SCHEMA_VERSION, SeriesKey, open_store
from sk_loadagent.models.metrics import LatencySummary, PerfMetrics, PhaseSummary
from sk_loadagent.suite.judge import compare_test, evaluate_test, score_test
from sk_loadagent.suite.remember import push_test
from sk_loadagent.suite.sources import Sources

FIXTURES = Path(__file__).parent / "fixtures"
SCOPE = SeriesKey("vetclinic", "CheckoutService", "load", "/checkout/submit")
FIFTY = "open 50 rps: steady; 15 s–1 min"
FIVE = "open 5 rps: steady; 15 s–1 min"


def _series(profile: str | None) -> SeriesKey:
    return SeriesKey(SCOPE.edition_id, SCOPE.module_id, SCOPE.test_type, SCOPE.endpoint, profile)


@pytest.fixture(params=["json", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def v2_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a copy of the schema 2 store of each kind."""
    if request.param == "json":
        path = tmp_path / "perf-metrics.memory.json"
        shutil.copy(FIXTURES / "v2_store.memory.json", path)
        return str(path)
    if request.param == "sqlite":
        path = tmp_path / "memory.sqlite"
        conn = sqlite3.connect(path)
        conn.executescript((FIXTURES / "v2_sqlite.sql").read_text())
        conn.close()
        return f"sqlite://{path}"
    import psycopg

    server, schema = request.getfixturevalue("pg_server"), request.getfixturevalue("pg_schema")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute((FIXTURES / "v2_postgres.sql").read_text().encode())
    return str(request.getfixturevalue("pg_url"))


def _stored_metrics() -> dict[str, Any]:
    document = json.loads((FIXTURES / "v2_store.memory.json").read_text())
    return {run["runId"]: run["metrics"] for run in document["runs"]}


def test_every_run_survives_with_its_profile_and_outage_flag(v2_store: str) -> None:
    with open_store(v2_store) as store:
        runs = store.find(module_id="CheckoutService")
        assert [(r.run_id, r.load_profile, r.infrastructure_failure, r.regressed) for r in runs] == [
            ("base-50", FIFTY, False, False),
            ("outage-1", FIFTY, True, True),
            ("outage-2", FIFTY, True, True),
            ("smoke-5", FIVE, False, False),
            ("external", None, False, False),
        ]
        assert {r.run_id: r.metrics for r in runs} == _stored_metrics()
        assert store.keys() == [_series(None), _series(FIVE), _series(FIFTY)]
        assert [r.run_id for r in store.series(_series(FIFTY))] == ["base-50", "outage-1", "outage-2"]
        baseline = store.baseline(_series(FIFTY))
        assert baseline is not None
        assert baseline.run_id == "base-50"
        assert store.baseline(_series(FIVE)) is None


def test_a_migrated_json_store_keeps_the_schema_2_document_as_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "perf-metrics.memory.json"
    shutil.copy(FIXTURES / "v2_store.memory.json", path)
    with open_store(path) as store:
        assert len(store.find()) == 5
    assert (tmp_path / "perf-metrics.memory.json.v2.bak").read_bytes() == (
        FIXTURES / "v2_store.memory.json"
    ).read_bytes()
    migrated = json.loads(path.read_text())
    assert migrated["schemaVersion"] == SCHEMA_VERSION == 4
    assert [run["infrastructureFailure"] for run in migrated["runs"]] == [False, True, True, False, False]


def _release(median_ms: float, *, rate: float = 50.0) -> PerfMetrics:
    """A 30 s run of the fixture's plan (ramp-up 3 s, then ``rate`` held), p95 1.6 × the median."""
    return PerfMetrics(
        trace_id="proj-next",
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type="load",
        endpoint="/checkout/submit",
        latency=LatencySummary(p50=median_ms, p95=1.6 * median_ms, p99=2 * median_ms),
        rps=rate,
        target_rps=rate,
        requests=int(30 * rate),
        error_rate=0.0,
        errors={},
        test_duration=30.0,
        phases=[
            PhaseSummary(name="ramp-up", start=0, end=3, measured=False, target_rps=rate / 2),
            PhaseSummary(name="steady", start=3, end=33, measured=True, target_rps=rate),
        ],
    )


def test_the_next_release_is_judged_against_the_migrated_baseline(v2_store: str) -> None:
    sources = Sources()
    with open_store(v2_store) as store:
        slow = compare_test(_release(1000.0), None, store, sources)
        judged = evaluate_test(score_test(slow, sources, None), sources)
        comparison = judged.baseline_comparison
        assert comparison is not None
        assert (comparison.baseline_run_id, comparison.exploratory, comparison.regressed) == (
            "base-50",
            False,
            True,
        )
        # The stored outages are no previous build: the previous run measured is the baseline itself.
        assert comparison.previous_run_id == "base-50"
        assert (judged.status, judged.regression, judged.load_profile) == ("fail", True, FIFTY)
        pushed = push_test(judged, store)
        # Two stored outages and this regression are not three consecutive regressions.
        assert (pushed["baseline"], pushed["baselineObsolete"]) == (False, False)


def test_a_stored_run_whose_metrics_no_longer_validate_migrates_with_an_unknown_profile(
    tmp_path: Path,
) -> None:
    path = tmp_path / "perf-metrics.memory.json"
    run = {
        "runId": "odd",
        "createdAt": "2025-02-03T09:00:00Z",
        "moduleId": "M",
        "metrics": {"phases": "gone"},
    }
    path.write_text(json.dumps({"schemaVersion": 2, "runs": [run]}))
    with open_store(path) as store:
        (migrated,) = store.find()
    assert (migrated.run_id, migrated.load_profile, migrated.infrastructure_failure) == ("odd", None, False)
    assert migrated.metrics == {"phases": "gone"}
