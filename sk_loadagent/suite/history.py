"""Stored runs as summaries, with the change points of each series: what `sk-loadagent history --json`
prints and the LoadAgent plugin's ``history`` returns."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from sk_loadagent.analysis import HistoryEntry, series_change_points
from sk_loadagent.analysis.changepoint import ChangePoint
from sk_loadagent.memory.history import HistoryRow


def _entry(row: HistoryRow) -> HistoryEntry:
    return HistoryEntry(
        run_id=row.run_id,
        trace_id=row.trace_id,
        created_at=row.created_at,
        status=row.status,
        score=row.performance_score,
        p95=row.p95_latency_ms,
        regressed=row.regressed,
        is_baseline=row.is_baseline,
        baseline_obsolete=row.baseline_obsolete,
        validated=row.validated,
    )


def series_change_points_by_run(rows: list[HistoryRow]) -> dict[str, ChangePoint]:
    """Change points of one series' p95, keyed by the run id of the first run of each new regime."""
    found = series_change_points([_entry(r) for r in rows])
    return {entry.run_id: cp for entry, cp in found}


def summaries(rows: list[HistoryRow]) -> list[dict[str, Any]]:
    """One JSON-ready summary per run, with ``changePoint`` set on the first run of a new p95 regime."""
    out: list[dict[str, Any]] = []
    for _, group in groupby(rows, key=lambda r: r.key):
        series = list(group)
        points = series_change_points_by_run(series)
        for row in series:
            cp = points.get(row.run_id)
            summary = row.to_wire()
            summary["changePoint"] = (
                None
                if cp is None
                else {
                    "p95Before": round(cp.before_mean, 3),
                    "p95After": round(cp.after_mean, 3),
                    "relChange": f"{cp.rel_change * 100:+.0f}%",
                    "pValue": round(cp.p_value, 4),
                }
            )
            out.append(summary)
    return out
