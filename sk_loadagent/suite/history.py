"""Stored runs as summaries, with the change points of each series: what `sk-loadagent history` prints and
the LoadAgent plugin's ``history`` returns."""

from __future__ import annotations

from itertools import groupby
from typing import Any, TextIO

from sk_loadagent.analysis import (
    HistoryEntry,
    SeriesChangePoint,
    SeriesChangePoints,
    measured_runs,
    series_change_points,
)
from sk_loadagent.memory import SeriesKey
from sk_loadagent.memory.history import HistoryRow


def series_label(key: SeriesKey) -> str:
    label = " / ".join(str(v or "-") for v in (key.edition_id, key.module_id, key.test_type, key.endpoint))
    return label if key.load_profile is None else f"{label} @ {key.load_profile}"


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
        infrastructure_failure=row.infrastructure_failure,
    )


def series_change_points_of(rows: list[HistoryRow]) -> SeriesChangePoints:
    """Change points of one series' p95 (over its latest ``CHANGE_POINT_WINDOW`` runs with a p95); outages
    (infrastructure failures) are left out: they measure no performance."""
    return series_change_points(measured_runs([_entry(r) for r in rows]))


def by_first_run(found: SeriesChangePoints) -> dict[str, SeriesChangePoint]:
    return {p.first_after.run_id: p for p in found.points}


def window_note(key: SeriesKey, found: SeriesChangePoints) -> str | None:
    if not found.windowed:
        return None
    return (
        f"change points of {series_label(key)} over its latest {found.analysed:,} of {found.with_p95:,} runs "
        "(older runs are left out to bound the time)"
    )


def summaries(rows: list[HistoryRow], notes: TextIO | None = None) -> list[dict[str, Any]]:
    """One JSON-ready summary per run, with ``changePoint`` set on the first run of a new p95 regime;
    a series analysed over a window says so on ``notes``."""
    out: list[dict[str, Any]] = []
    for key, group in groupby(rows, key=lambda r: r.key):
        series = list(group)
        found = series_change_points_of(series)
        note = window_note(key, found)
        if note and notes is not None:
            print(note, file=notes)
        points = by_first_run(found)
        for row in series:
            point = points.get(row.run_id)
            summary = row.to_wire()
            summary["changePoint"] = None if point is None else point.mark().to_wire(exclude_none=False)
            out.append(summary)
    return out
