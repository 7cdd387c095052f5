"""``sk-loadagent history``: the stored runs of each series, its baseline and its change points."""

from __future__ import annotations

import argparse
import json
import sys
from itertools import groupby
from typing import Any, TextIO

from sk_loadagent.analysis import (
    HistoryEntry,
    SeriesChangePoint,
    SeriesChangePoints,
    measured_runs,
    series_change_points,
)
from sk_loadagent.memory import SeriesKey, open_store
from sk_loadagent.memory.history import HistoryRow, history_rows


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


def _by_first_run(found: SeriesChangePoints) -> dict[str, SeriesChangePoint]:
    return {p.first_after.run_id: p for p in found.points}


def _window_note(key: SeriesKey, found: SeriesChangePoints) -> str | None:
    if not found.windowed:
        return None
    return (
        f"change points of {_label(key)} over its latest {found.analysed:,} of {found.with_p95:,} runs "
        "(older runs are left out to bound the time)"
    )


def summaries(rows: list[HistoryRow], notes: TextIO | None = None) -> list[dict[str, Any]]:
    """One JSON-ready summary per run, with ``changePoint`` set on the first run of a new p95 regime;
    a series analysed over a window says so on ``notes``."""
    out: list[dict[str, Any]] = []
    for key, group in groupby(rows, key=lambda r: r.key):
        series = list(group)
        found = series_change_points_of(series)
        note = _window_note(key, found)
        if note and notes is not None:
            print(note, file=notes)
        points = _by_first_run(found)
        for row in series:
            point = points.get(row.run_id)
            summary = row.to_wire()
            summary["changePoint"] = None if point is None else point.mark().to_wire(exclude_none=False)
            out.append(summary)
    return out


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _baseline_text(series: list[HistoryRow]) -> str:
    """The live baseline; an obsolete one is still compared against until a validated pass replaces it."""
    flagged = [r for r in series if r.is_baseline]
    live = next((r for r in reversed(flagged) if not r.baseline_obsolete), None)
    if live is not None:
        return (
            f"{live.run_id} from {live.created_at:%Y-%m-%d %H:%M} (p95 {_num(live.p95_latency_ms, '.2f')} ms)"
        )
    if flagged:
        return f"{flagged[-1].run_id}, obsolete (still compared against; the next validated pass replaces it)"
    return "none yet (the next run is exploratory)"


def _label(key: SeriesKey) -> str:
    label = " / ".join(str(v or "-") for v in (key.edition_id, key.module_id, key.test_type, key.endpoint))
    return label if key.load_profile is None else f"{label} @ {key.load_profile}"


def _regime_line(found: SeriesChangePoint) -> str:
    """The line drawn above the first run of a new p95 regime."""
    cp = found.point
    return (
        f"  -- p95 {cp.before_mean:.2f} -> {cp.after_mean:.2f} ms ({cp.change_text}, magnitude "
        f"{cp.magnitude * 100:.0f}%, p={cp.p_value:.3f}) after run {found.last_before.run_id} --"
    )


def print_table(rows: list[HistoryRow], out: TextIO) -> None:
    for key, group in groupby(rows, key=lambda r: r.key):
        series = list(group)
        found = series_change_points_of(series)
        points = _by_first_run(found)
        print(f"\n{_label(key)}  ({len(series)} runs)", file=out)
        print(f"  baseline: {_baseline_text(series)}", file=out)
        note = _window_note(key, found)
        if note:
            print(f"  {note}", file=out)
        print(
            f"  {'when (UTC)':<16} {'status':<9} {'score':>5} {'p95 ms':>9} {'rps':>9} {'errors':>7}  flags",
            file=out,
        )
        for row in series:
            flags = [
                name
                for name, on in (
                    ("baseline", row.is_baseline),
                    ("regressed", row.regressed),
                    ("obsolete", row.baseline_obsolete),
                    (f"retry {row.retry_attempt}", row.retry_attempt > 0),
                    ("unvalidated", not row.validated),
                    ("infrastructure failure", row.infrastructure_failure),
                )
                if on
            ]
            point = points.get(row.run_id)
            if point is not None:
                print(_regime_line(point), file=out)
                flags.append(f"change point {point.point.change_text} (p={point.point.p_value:.3f})")
            errors = "-" if row.error_rate is None else f"{row.error_rate * 100:.2f}%"
            print(
                f"  {row.created_at:%Y-%m-%d %H:%M} {row.status or '-':<9} "
                f"{_num(row.performance_score, '.2f'):>5} {_num(row.p95_latency_ms, '.2f'):>9} "
                f"{_num(row.rps, '.1f'):>9} {errors:>7}  {', '.join(flags)}",
                file=out,
            )


def history_command(args: argparse.Namespace, memory: str) -> int:
    with open_store(memory, create=False) as store:
        rows = history_rows(store, module_id=args.module, edition_id=args.edition, test_type=args.test_type)
    if args.json:
        json.dump(summaries(rows, notes=sys.stderr), sys.stdout, indent=2)
        print()
        return 0
    if not rows:
        print(f"No stored runs in {memory} match the filters.")
        return 0
    print_table(rows, sys.stdout)
    return 0
