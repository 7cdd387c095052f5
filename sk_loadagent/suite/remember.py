"""MemoryPusher's work: store each judged test and apply the baseline rules of spec cycles 11 and 17."""

from __future__ import annotations

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
from sk_loadagent.suite.baselines import history_entry, load_history, series_key
from sk_loadagent.suite.steps import push_steps

_STATUSES: tuple[Status, ...] = ("pass", "warning", "degraded", "fail")


def _verdict(test: PerfMetrics) -> Verdict | None:
    status = test.status
    if status not in _STATUSES:
        return None
    return Verdict(status=status, reasons=list(test.reasons or []), regression=bool(test.regression))


def _promotion_reason(current: HistoryEntry | None) -> str:
    if current is None:
        return "first passing run of this scope"
    if current.baseline_obsolete:
        return "replaces the obsolete baseline"
    return "improved with confidence"


def push_test(test: PerfMetrics, store: MemoryStore) -> dict[str, Any]:
    """Store one test; it becomes the baseline when it earns it; three regressions retire the old one. An
    infrastructure failure is stored (and reported) but neither becomes a baseline nor retires one."""
    key = series_key(test)
    history = load_history(store, key)
    entries = history.entries
    current = select_baseline(entries)
    verdict = _verdict(test)
    outage = test.infrastructure_failure is not None
    promote = (
        verdict is not None
        and test.performance_score is not None
        and should_promote(
            verdict, test.baseline_comparison, test.performance_score, current, infrastructure_failure=outage
        )
    )
    regressed_now = bool(test.regression) or bool(
        test.baseline_comparison and test.baseline_comparison.regressed
    )
    record = RunRecord.from_metrics(test, score_log=score_log_lines(test, [], []), is_baseline=promote)
    record = record.model_copy(update={"regressed": regressed_now, "load_profile": key.load_profile})
    record = store.push(record)
    after = [*entries, history_entry(record)]
    obsolete = (
        not promote
        and not outage
        and current is not None
        and not current.baseline_obsolete
        and obsolete_after_regressions(after)
    )
    if obsolete:
        store.mark_obsolete(key)
    steps = push_steps(test, store, promote=promote, obsolete=obsolete) if test.steps else []
    result: dict[str, Any] = {
        "runId": record.run_id,
        "key": key.to_wire(),
        "status": record.status,
        "baseline": promote,
        "baselineObsolete": obsolete,
    }
    if promote:
        result["reason"] = _promotion_reason(current)
    if outage:
        result["infrastructureFailure"] = True
    if steps:
        result["stepRunIds"] = steps
    if obsolete:
        result["suggestion"] = obsolete_suggestion()
    return result


def push(suite: PerfMetrics, store: MemoryStore) -> list[dict[str, Any]]:
    """Push every test of the suite that finished judging (has a status)."""
    return [push_test(t, store) for t in suite.tests or [suite] if t.status is not None]
