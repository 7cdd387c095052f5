"""MemoryPusher's work: store each judged test and apply the baseline rules of spec cycles 11 and 17."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sk_loadagent.analysis import (
    HistoryEntry,
    Verdict,
    obsolete_after_regressions,
    obsolete_suggestion,
    select_baseline,
    should_promote,
)
from sk_loadagent.memory import MemoryStore, RunRecord
from sk_loadagent.models.metrics import PerfMetrics, Status
from sk_loadagent.publish.score_log import score_log_lines
from sk_loadagent.suite.baselines import load_history, series_key

_STATUSES: tuple[Status, ...] = ("pass", "warning", "degraded", "fail")


def _verdict(test: PerfMetrics) -> Verdict | None:
    status = test.status
    if status not in _STATUSES:
        return None
    return Verdict(status=status, reasons=list(test.reasons or []), regression=bool(test.regression))


def push_test(test: PerfMetrics, store: MemoryStore) -> dict[str, Any]:
    """Store one test; it becomes the baseline when it earns it; three regressions retire the old one."""
    key = series_key(test)
    history = load_history(store, key)
    entries = history.entries
    current = select_baseline(entries)
    verdict = _verdict(test)
    promote = (
        verdict is not None
        and test.performance_score is not None
        and should_promote(verdict, test.baseline_comparison, test.performance_score, current)
    )
    regressed_now = bool(test.regression) or bool(
        test.baseline_comparison and test.baseline_comparison.regressed
    )
    record = RunRecord.from_metrics(test, score_log=score_log_lines(test, [], []), is_baseline=promote)
    record = store.push(record.model_copy(update={"regressed": regressed_now}))
    after = [
        *entries,
        HistoryEntry(
            run_id=record.run_id or "",
            trace_id=record.trace_id,
            created_at=record.created_at or datetime.now(UTC),
            status=record.status,
            score=record.performance_score,
            p95=record.p95_latency_ms,
            regressed=regressed_now,
            is_baseline=promote,
        ),
    ]
    obsolete = not promote and current is not None and obsolete_after_regressions(after)
    if obsolete:
        store.mark_obsolete(key)
    result: dict[str, Any] = {
        "runId": record.run_id,
        "key": key.to_wire(),
        "status": record.status,
        "baseline": promote,
        "baselineObsolete": obsolete,
    }
    if promote:
        result["reason"] = (
            "first passing run of this scope" if current is None else "improved with confidence"
        )
    if obsolete:
        result["suggestion"] = obsolete_suggestion()
    return result


def push(suite: PerfMetrics, store: MemoryStore) -> list[dict[str, Any]]:
    """Push every test of the suite that finished judging (has a status)."""
    return [push_test(t, store) for t in suite.tests or [suite] if t.status is not None]
