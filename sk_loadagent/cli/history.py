"""``sk-loadagent history``: the stored runs of each series, its baseline and its change points."""

from __future__ import annotations

import argparse
import json
import sys
from itertools import groupby
from typing import TextIO

from sk_loadagent.analysis import SeriesChangePoint
from sk_loadagent.memory import open_store
from sk_loadagent.memory.history import HistoryRow, history_rows
from sk_loadagent.suite.history import (
    by_first_run,
    series_change_points_of,
    series_label,
    summaries,
    window_note,
)


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
        points = by_first_run(found)
        print(f"\n{series_label(key)}  ({len(series)} runs)", file=out)
        print(f"  baseline: {_baseline_text(series)}", file=out)
        note = window_note(key, found)
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
