"""The Studio files that accumulate across runs in ``--out`` (spec cycles 9, 16 and 19):
doc-coverage.metrics.json (coverage and score history per module and edition) and studio.analytics.json
(latest tile and badge, retry heatmap, regression deltas).

Each run reads the file the folder holds, adds itself, and writes the result into the run's staging folder,
so it lands with the run's other artifacts (``publish.outdir``); a run that fails leaves both files as they
were. An existing file that does not validate is bad input, found before any load is sent
(``check_studio_files``), and is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sk_loadagent.atomic import write_atomic
from sk_loadagent.errors import InputError
from sk_loadagent.models.doc_coverage import DEFAULT_HISTORY, DocCoverage, ScorePoint
from sk_loadagent.models.loading import M, read_document, validate_document
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.preview import LoadTestResult, StudioTile
from sk_loadagent.models.studio_analytics import RegressionDelta, RetryCell, ScopeAnalytics, StudioAnalytics
from sk_loadagent.publish import paths
from sk_loadagent.publish.artifacts import dump_json
from sk_loadagent.publish.tiles import badge_summary


@dataclass(frozen=True)
class StudioFiles:
    coverage: DocCoverage
    analytics: StudioAnalytics


def check_studio_files(folder: Path) -> StudioFiles:
    """The folder's Studio files (empty documents where there are none); InputError names the file and
    field of one that does not validate."""
    return StudioFiles(
        _read(folder / paths.DOC_COVERAGE, DocCoverage) or DocCoverage(),
        _read(folder / paths.STUDIO_ANALYTICS, StudioAnalytics) or StudioAnalytics(),
    )


def _read(path: Path, model: type[M]) -> M | None:
    """A Studio file this agent wrote (so validated as JSON reads back: timestamps are text), or None."""
    if not path.exists():
        return None
    data = read_document(path)
    if data is None:
        raise InputError.single(str(path), "", f"a {model.__name__} document", "an empty file")
    return validate_document(data, model, str(path))


def _tests(suite: PerfMetrics) -> list[PerfMetrics]:
    return suite.tests or [suite]


def _at(test: PerfMetrics, now: datetime) -> datetime:
    return test.test_start_time or now


def with_coverage(coverage: DocCoverage, suite: PerfMetrics, now: datetime) -> DocCoverage:
    """Every test of the suite covered and its score appended to its module and edition's history."""
    for test in _tests(suite):
        if test.module_id is None or test.performance_score is None:
            continue
        point = ScorePoint(
            trace_id=test.trace_id,
            score=test.performance_score,
            status=test.status,
            at=_at(test, now),
            test_type=test.test_type,
            latency_p95=test.latency.p95 if test.latency else None,
            retry_attempt=test.retry_attempt or 0,
        )
        coverage = coverage.with_run(
            module_id=test.module_id,
            edition_id=test.edition_id,
            test_type=test.test_type,
            endpoint=test.endpoint,
            point=point,
        )
    return coverage


def studio_tile(suite: PerfMetrics) -> StudioTile:
    """The cycle 1 tile of the suite: its decisive test, with a spike test's spike latency."""
    spike = next((t.spike for t in _tests(suite) if t.spike is not None), None)
    comparison = suite.baseline_comparison
    return StudioTile(
        trace_id=suite.trace_id,
        edition_id=suite.edition_id,
        module_id=suite.module_id,
        test_type=suite.test_type,
        load_test_result=LoadTestResult(
            performance_score=suite.performance_score,
            status=suite.status,
            spike_latency_ms=spike.spike_latency_ms if spike is not None else None,
            baseline_latency_ms=comparison.p95_latency_baseline if comparison is not None else None,
            latency_p95_ms=suite.latency.p95 if suite.latency else None,
            rps=suite.rps,
            error_rate=suite.error_rate,
        ),
    )


def _heatmap(cells: list[RetryCell], tests: list[PerfMetrics]) -> list[RetryCell]:
    by_type = {c.test_type: c for c in cells}
    for test in tests:
        kind = test.test_type or "load"
        cell = by_type.get(kind) or RetryCell(test_type=kind)
        attempts = test.retry.retry_attempt if test.retry is not None else (test.retry_attempt or 0)
        outcome = test.retry.outcome if test.retry is not None else None
        by_type[kind] = cell.model_copy(
            update={
                "runs": cell.runs + 1,
                "retried": cell.retried + (attempts > 0),
                "retries": cell.retries + attempts,
                "recovered": cell.recovered + (outcome == "recovered"),
                "escalated": cell.escalated + (outcome == "escalated"),
            }
        )
    return sorted(by_type.values(), key=lambda c: c.test_type)


def _deltas(tests: list[PerfMetrics], now: datetime) -> list[RegressionDelta]:
    return [
        RegressionDelta(
            trace_id=t.trace_id,
            test_type=t.test_type,
            endpoint=t.endpoint,
            at=_at(t, now),
            delta_latency_p95=t.baseline_comparison.delta_latency_p95,
            regressed=bool(t.baseline_comparison.regressed),
            status=t.status,
        )
        for t in tests
        if t.baseline_comparison is not None and not t.baseline_comparison.exploratory
    ]


def with_analytics(analytics: StudioAnalytics, suite: PerfMetrics, now: datetime) -> StudioAnalytics:
    """The suite's module and edition updated: its tile and badge replaced, its tests counted in the
    retry heatmap and their deltas appended (the latest ``DEFAULT_HISTORY`` kept)."""
    if suite.module_id is None:
        return analytics
    tests = _tests(suite)
    current = analytics.scope(suite.module_id, suite.edition_id) or ScopeAnalytics(
        module_id=suite.module_id, edition_id=suite.edition_id
    )
    regression = any(bool(t.regression) for t in tests)
    updated = ScopeAnalytics(
        module_id=suite.module_id,
        edition_id=suite.edition_id,
        tile=studio_tile(suite),
        badge=badge_summary(suite, regression=regression),
        retry_heatmap=_heatmap(list(current.retry_heatmap), tests),
        regression_deltas=[*current.regression_deltas, *_deltas(tests, now)][-DEFAULT_HISTORY:],
    )
    return analytics.with_scope(updated, now)


def write_studio_files(folder: Path, staging: Path, suite: PerfMetrics) -> dict[str, Path]:
    """Read ``folder``'s Studio files, add the suite, and write both into ``staging``."""
    now = datetime.now(UTC)
    existing = check_studio_files(folder)
    coverage = with_coverage(existing.coverage, suite, now)
    analytics = with_analytics(existing.analytics, suite, now)
    return {
        "docCoverage": write_atomic(staging / paths.DOC_COVERAGE, dump_json(coverage.to_wire())),
        "studioAnalytics": write_atomic(staging / paths.STUDIO_ANALYTICS, dump_json(analytics.to_wire())),
    }
