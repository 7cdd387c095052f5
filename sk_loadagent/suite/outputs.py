"""The run's outputs that need more than its own perf-metrics: report.html (each test's series history and
the module's coverage, read from memory) and Studio's accumulating files (read from ``--out``).

They are written into the run's staging folder after the skill chain, once memory holds the run, so they
land with the other artifacts or not at all (``publish.outdir``).
"""

from __future__ import annotations

from pathlib import Path

from sk_loadagent.memory import MemoryStore, RunRecord
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish.report import ReportInputs, SeriesHistory, StoredRun, write_report
from sk_loadagent.publish.studio import write_studio_files
from sk_loadagent.suite.baselines import series_key

HISTORY_RUNS = 100  # runs of a series drawn in its trend; change points cover more (analysis.history)
NO_MEMORY = "Memory was not used for this run (--no-memory): no history to show."


def stored_run(record: RunRecord) -> StoredRun:
    retry = record.metrics.get("retry")
    outcome = retry.get("outcome") if isinstance(retry, dict) else None
    return StoredRun(
        run_id=record.run_id or "",
        trace_id=record.trace_id,
        created_at=record.created_at,
        status=record.status,
        score=record.performance_score,
        p95=record.p95_latency_ms,
        is_baseline=record.is_baseline,
        infrastructure_failure=record.infrastructure_failure,
        retry_attempt=record.retry_attempt,
        retry_outcome=outcome if isinstance(outcome, str) else None,
        edition_id=record.edition_id,
        endpoint=record.endpoint,
        test_type=record.test_type,
    )


def series_history(store: MemoryStore, test: PerfMetrics) -> SeriesHistory:
    """The latest ``HISTORY_RUNS`` runs of the test's series (this run last, once pushed)."""
    records = store.series(series_key(test), limit=HISTORY_RUNS + 1)
    return SeriesHistory(
        [stored_run(r) for r in records[-HISTORY_RUNS:]], truncated=len(records) > HISTORY_RUNS
    )


def module_runs(store: MemoryStore, module_id: str | None) -> list[StoredRun]:
    """The latest run of every series of the module, every edition (the coverage map)."""
    series = store.keys()
    keys = [key for key in series if key.module_id == module_id]
    return [stored_run(record) for key in keys for record in store.series(key, limit=1)]


def report_inputs(suite: PerfMetrics, store: MemoryStore | None, explanation: str | None) -> ReportInputs:
    tests = suite.tests or [suite]
    if store is None:
        return ReportInputs(suite=suite, history={}, memory_note=NO_MEMORY, explanation=explanation)
    history = {
        (t.test_index if t.test_index is not None else i): series_history(store, t)
        for i, t in enumerate(tests)
    }
    return ReportInputs(
        suite=suite,
        history=history,
        module_runs=module_runs(store, suite.module_id),
        explanation=explanation,
    )


def write_run_outputs(
    suite: PerfMetrics,
    folder: Path,
    staging: Path,
    store: MemoryStore | None,
    *,
    report: bool,
    explanation: str | None = None,
) -> dict[str, Path]:
    """Studio's files, and report.html unless ``report`` is False, into ``staging``."""
    written = write_studio_files(folder, staging, suite)
    if report:
        written["report"] = write_report(staging, report_inputs(suite, store, explanation))
    return written
