"""From the memory store to the dashboard's view models, reading only windows of each series.

A page never reads a whole store: the front page reads the latest full run of each series (its tile) and the
history rows (no perf-metrics) of its latest ``TILE_RUNS`` runs; a series page reads ``TREND_RUNS`` rows
and finds change points over them; a run's report reads that run and its series' rows up to it.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar, cast

from pydantic import ValidationError

from sk_loadagent.analysis import edition_deviation
from sk_loadagent.memory import MemoryStore, RunRecord, SeriesKey
from sk_loadagent.memory.history import HistoryRow
from sk_loadagent.models.metrics import BaselineComparison, PerfMetrics
from sk_loadagent.publish.report import ReportInputs, SeriesHistory, StoredRun, build_report
from sk_loadagent.publish.report import views as v
from sk_loadagent.publish.report.build import history_charts, spelled_fraction, tile
from sk_loadagent.publish.tiles import tile_color
from sk_loadagent.suite.history import series_change_points_of
from sk_loadagent.suite.outputs import HISTORY_RUNS

from ._views import (
    Choices,
    EditionCell,
    EditionRow,
    Filters,
    Overview,
    RunRow,
    SeriesPage,
    SeriesTile,
    TileGroup,
)

MEMO_ITEMS = 4096  # derived pieces kept between requests (a latest run's tile, a trend): a few MB at most
TILE_RUNS = 20  # runs of each series behind a tile's p95 trend and the retry heatmap
TREND_RUNS = HISTORY_RUNS  # runs of a series drawn on its page (as in report.html), change points over them
GROUPS = {"module": "module_id", "edition": "edition_id", "testType": "test_type"}
NONE_LABEL = "–"
T = TypeVar("T")


class Memo:
    """What pages derive from stored runs, kept between requests (least recently used dropped first).

    Safe because history is never overwritten: a run id always names the same record, so its tile never
    changes; a trend is keyed by the ids and baseline flags of the runs it draws, so a new run or a moved
    baseline makes a new key.
    """

    def __init__(self, size: int = MEMO_ITEMS) -> None:
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return cast(T, self._items[key])
        value = make()
        if value is None:
            return value  # nothing found yet: it may be stored later
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


# -- series ids -------------------------------------------------------------------------------------------


def series_token(key: SeriesKey) -> str:
    """The series' id in URLs: its five key parts as JSON, base64url without padding."""
    parts = [key.edition_id, key.module_id, key.test_type, key.endpoint, key.load_profile]
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def key_of_token(token: str) -> SeriesKey | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        parts = json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if (
        not isinstance(parts, list)
        or len(parts) != 5
        or not all(p is None or isinstance(p, str) for p in parts)
    ):
        return None
    return SeriesKey(*parts)


# -- pieces -----------------------------------------------------------------------------------------------


def _color(status: str | None) -> v.Color:
    return tile_color(status) or "grey"


def _metrics(record: RunRecord) -> PerfMetrics | None:
    try:
        return PerfMetrics.model_validate(record.metrics)
    except ValidationError:
        return None


def _plain_tile(record: RunRecord) -> v.Tile:
    """A tile from the record's own columns, for a run whose stored perf-metrics no longer validate."""
    return v.Tile(
        anchor="latest",
        title=" ".join(p for p in (record.test_type, record.endpoint) if p) or "test",
        test_type=record.test_type or "load",
        endpoint=record.endpoint,
        status=record.status or "unknown",
        color=_color(record.status),
        score=record.performance_score,
        regression=record.regressed,
        summary="(stored perf-metrics could not be read)",
        retry_badge=None,
        actions=[],
        gated=True,
    )


def _tile_of(latest: RunRecord, token: str) -> v.Tile:
    test = _metrics(latest)  # read once per run: the tile is remembered
    shown = tile(test, 0) if test is not None else _plain_tile(latest)
    # The dashboard's actions are its own links (the report, the series); the tile keeps the others.
    actions = [a for a in shown.actions if a not in ("view-report", "view-trace")]
    return shown.model_copy(update={"anchor": token, "actions": actions})


def _series_tile(key: SeriesKey, latest: _Latest, rows: Sequence[HistoryRow]) -> SeriesTile:
    record = latest.record
    assert record.run_id is not None  # a stored record: push set both
    assert record.created_at is not None
    return SeriesTile(
        token=latest.tile.anchor,
        module_id=key.module_id,
        edition_id=key.edition_id,
        test_type=key.test_type,
        endpoint=key.endpoint,
        load_profile=key.load_profile,
        latest_run=record.run_id,
        latest_at=record.created_at,
        tile=latest.tile,
        p95_trend=[None if r.infrastructure_failure else r.p95_latency_ms for r in rows],
        runs_shown=len(rows),
    )


def _choices(keys: Iterable[SeriesKey]) -> Choices:
    keys = list(keys)
    return Choices(
        editions=sorted({k.edition_id for k in keys if k.edition_id}),
        modules=sorted({k.module_id for k in keys if k.module_id}),
        test_types=sorted({k.test_type for k in keys if k.test_type}),
    )


def _wanted(key: SeriesKey, filters: Filters) -> bool:
    return all(
        wanted is None or got == wanted
        for wanted, got in (
            (filters.edition, key.edition_id),
            (filters.module, key.module_id),
            (filters.test_type, key.test_type),
        )
    )


# Worst first: what needs a look leads each group and the attention list.
_SEVERITY = {"fail": 0, "degraded": 1, "warning": 2, "pass": 4}


def needs_attention(shown: SeriesTile) -> bool:
    return shown.tile.regression or shown.tile.status != "pass"


def _worst_first(shown: SeriesTile) -> tuple[int, bool, float, str]:
    score = shown.tile.score if shown.tile.score is not None else 0.0
    return _SEVERITY.get(shown.tile.status, 3), not shown.tile.regression, score, shown.tile.title


def _groups(tiles: list[SeriesTile], by: str) -> list[TileGroup]:
    field = GROUPS.get(by, "module_id")
    grouped: dict[str, list[SeriesTile]] = {}
    for shown in sorted(tiles, key=_worst_first):
        grouped.setdefault(getattr(shown, field) or NONE_LABEL, []).append(shown)
    return [TileGroup(name=name, tiles=grouped[name]) for name in sorted(grouped)]


def _delta(record: RunRecord) -> str | None:
    comparison = record.metrics.get("baselineComparison")
    delta = comparison.get("deltaLatencyP95") if isinstance(comparison, dict) else None
    return delta if isinstance(delta, str) else None


def edition_rows(latest: Sequence[_Latest]) -> tuple[list[EditionRow], list[str]]:
    """Each module × test type × endpoint × load profile stored for two or more editions: the latest run of
    every edition, its change against its own baseline and its p95 against the base edition's."""
    by_scope: dict[tuple[str, ...], dict[str, _Latest]] = {}
    for found in latest:
        record = found.record
        if record.edition_id is None:
            continue
        scope = tuple(
            p or "" for p in (record.module_id, record.test_type, record.endpoint, record.load_profile)
        )
        by_scope.setdefault(scope, {})[record.edition_id] = found
    rows: list[EditionRow] = []
    shown: set[str] = set()
    for scope in sorted(by_scope):
        runs = by_scope[scope]
        if len(runs) < 2:
            continue
        p95s = {e: r.record.p95_latency_ms for e, r in runs.items() if r.record.p95_latency_ms}
        deviation = edition_deviation(p95s)
        base = next((e for e in p95s if e not in deviation), None) if deviation else None
        cells = []
        for edition in sorted(runs):
            record, delta = runs[edition].record, runs[edition].delta
            cells.append(
                EditionCell(
                    edition=edition,
                    run_id=record.run_id or "",
                    status=record.status,
                    color=_color(record.status),
                    p95=record.p95_latency_ms,
                    score=record.performance_score,
                    delta_p95=delta,
                    delta_fraction=spelled_fraction(delta),
                    regressed=record.regressed,
                    deviation=deviation.get(edition),
                )
            )
        shown.update(runs)
        module, test_type, endpoint, profile = (p or None for p in scope)
        rows.append(
            EditionRow(
                module_id=module,
                test_type=test_type,
                endpoint=endpoint,
                load_profile=profile,
                base_edition=base,
                cells=cells,
            )
        )
    return rows, sorted(shown)


def retry_heatmap(windows: Sequence[tuple[SeriesKey, Sequence[HistoryRow]]]) -> v.Heatmap | None:
    """Rows: modules; columns: test types; a cell: the retries of the latest ``TILE_RUNS`` runs of each of
    their series, red when one escalated, yellow when runs were retried, green when none was."""
    cells_at: dict[tuple[str, str], list[HistoryRow]] = {}
    for key, rows in windows:
        cells_at.setdefault((key.module_id or NONE_LABEL, key.test_type or NONE_LABEL), []).extend(rows)
    if not cells_at:
        return None
    modules = sorted({m for m, _ in cells_at})
    kinds = sorted({k for _, k in cells_at})
    cells = []
    for (module, kind), rows in sorted(cells_at.items()):
        retried = [r for r in rows if r.retry_attempt > 0]
        escalated = sum(1 for r in retried if r.retry_outcome == "escalated")
        recovered = sum(1 for r in retried if r.retry_outcome == "recovered")
        retries = sum(r.retry_attempt for r in rows)
        color: v.Color = "red" if escalated else "yellow" if retried else "green"
        cells.append(
            v.HeatCell(
                row=modules.index(module),
                column=kinds.index(kind),
                value=retries,
                color=color,
                label=f"{module} {kind}: {retries} retries in {len(retried)} of {len(rows)} runs "
                f"({recovered} recovered, {escalated} escalated)",
            )
        )
    return v.Heatmap(
        title="Retries per module and test type",
        rows=modules,
        columns=kinds,
        cells=cells,
        note=f"the latest {TILE_RUNS} runs of each series",
    )


# -- pages ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Latest:
    """What the front page needs of a series' latest run, kept small: the record without its perf-metrics,
    histogram and score log, its tile, and its p95 change against its baseline."""

    record: RunRecord
    tile: v.Tile
    delta: str | None


def _latest(store: MemoryStore, key: SeriesKey, rows: Sequence[HistoryRow], memo: Memo) -> _Latest | None:
    """The newest of ``rows`` as the front page shows it (its full record read once, then remembered)."""
    run_id = rows[-1].run_id

    def read() -> _Latest | None:
        record = store.get(run_id)
        if record is None or record.key != key:
            return None
        light = record.model_copy(update={"metrics": {}, "latency_histogram": None, "score_log": []})
        return _Latest(light, _tile_of(record, series_token(key)), _delta(record))

    return memo.get(("latest", run_id), read)


def overview(store: MemoryStore, filters: Filters, store_label: str, memo: Memo | None = None) -> Overview:
    memo = memo or Memo()
    all_keys = store.keys()
    keys = [k for k in all_keys if _wanted(k, filters)]
    tiles: list[SeriesTile] = []
    latest_runs: list[_Latest] = []
    windows: list[tuple[SeriesKey, list[HistoryRow]]] = []
    for key in keys:
        rows = store.rows(key, limit=TILE_RUNS)
        latest = _latest(store, key, rows, memo) if rows else None
        if latest is None:
            continue  # removed since keys() answered
        tiles.append(_series_tile(key, latest, rows))
        latest_runs.append(latest)
        windows.append((key, rows))
    counts: dict[str, int] = {}
    for shown in tiles:
        counts[shown.tile.status] = counts.get(shown.tile.status, 0) + 1
    editions, editions_shown = edition_rows(latest_runs)
    problem = None
    if not all_keys:
        problem = "No runs stored yet: run `sk-loadagent run --memory` with this store, then reload."
    elif not keys:
        problem = "No stored series matches these filters."
    return Overview(
        store=store_label,
        problem=problem,
        filters=filters,
        choices=_choices(all_keys),
        series_total=len(all_keys),
        counts=counts,
        regressions=sum(1 for t in tiles if t.tile.regression),
        groups=_groups(tiles, filters.group),
        attention=sorted((t for t in tiles if needs_attention(t)), key=_worst_first),
        editions=editions,
        editions_shown=editions_shown,
        retry_heatmap=retry_heatmap(windows),
    )


def empty_overview(store_label: str, problem: str, filters: Filters) -> Overview:
    return Overview(
        store=store_label,
        problem=problem,
        filters=filters,
        choices=Choices(editions=[], modules=[], test_types=[]),
        series_total=0,
        counts={},
        regressions=0,
        groups=[],
        attention=[],
        editions=[],
        editions_shown=[],
        retry_heatmap=None,
    )


def stored_run(row: HistoryRow) -> StoredRun:
    return StoredRun(
        run_id=row.run_id,
        trace_id=row.trace_id,
        created_at=row.created_at,
        status=row.status,
        score=row.performance_score,
        p95=row.p95_latency_ms,
        is_baseline=row.is_baseline,
        infrastructure_failure=row.infrastructure_failure,
        retry_attempt=row.retry_attempt,
        retry_outcome=row.retry_outcome,
        edition_id=row.key.edition_id,
        endpoint=row.key.endpoint,
        test_type=row.key.test_type,
    )


def _with_change_points(test: PerfMetrics, rows: list[HistoryRow]) -> tuple[PerfMetrics, list[str]]:
    """The test with the change points of ``rows`` as its comparison's, so the report's history chart marks
    them; and each change point in words."""
    found = series_change_points_of(rows)
    marks = [p.mark() for p in found.points]
    comparison = test.baseline_comparison or BaselineComparison()
    test = test.model_copy(
        update={"baseline_comparison": comparison.model_copy(update={"change_point_details": marks})}
    )
    words = [
        f"p95 {p.point.before_mean:.2f} → {p.point.after_mean:.2f} ms ({p.point.change_text}, "
        f"p={p.point.p_value:.3f}) from run {p.first_after.trace_id or p.first_after.run_id} "
        f"({p.first_after.created_at:%Y-%m-%d %H:%M})"
        for p in found.points
    ]
    return test, words


def _latest_labels(chart: v.Chart) -> v.Chart:
    """The report marks "this run"; on the dashboard the newest run is just the latest."""
    marks = [m.model_copy(update={"label": "latest run"}) if m.role == "current" else m for m in chart.marks]
    labels = {i: text.replace("(this run)", "(latest)") for i, text in chart.x_labels.items()}
    title = chart.title.replace("of this series", "of the series")
    return chart.model_copy(update={"marks": marks, "x_labels": labels, "title": title})


def _flags(row: HistoryRow) -> list[str]:
    return [
        name
        for name, on in (
            ("baseline", row.is_baseline),
            ("regressed", row.regressed),
            ("obsolete", row.baseline_obsolete),
            (
                f"retry {row.retry_attempt}" + (f" {row.retry_outcome}" if row.retry_outcome else ""),
                row.retry_attempt > 0,
            ),
            ("unvalidated", not row.validated),
            ("infrastructure failure", row.infrastructure_failure),
        )
        if on
    ]


def _trend(
    test: PerfMetrics | None, rows: list[HistoryRow], truncated: bool, token: str
) -> tuple[list[v.Chart], str | None, list[str]]:
    """The series' p95 and score charts with change points marked, the note under them, the change points
    in words."""
    if test is None:
        return [], None, []
    marked, words = _with_change_points(test, rows)
    drawn, note = history_charts(marked, SeriesHistory([stored_run(r) for r in rows], truncated), token)
    return [_latest_labels(c) for c in drawn], note, words


def series_page(
    store: MemoryStore, key: SeriesKey, store_label: str, memo: Memo | None = None
) -> SeriesPage | None:
    memo = memo or Memo()
    rows = store.rows(key, limit=TREND_RUNS + 1)
    latest = _latest(store, key, rows, memo) if rows else None
    if latest is None:
        return None
    shown = rows[-TREND_RUNS:]
    seen = _series_tile(key, latest, rows[-TILE_RUNS:])
    drawn = tuple((r.run_id, r.is_baseline, r.baseline_obsolete) for r in rows)

    def trend() -> tuple[list[v.Chart], str | None, list[str]]:
        record = store.get(seen.latest_run)  # its limits are drawn: the full record, once per trend
        test = _metrics(record) if record is not None else None
        return _trend(test, shown, len(rows) > TREND_RUNS, seen.token)

    charts, note, words = memo.get(("trend", key, drawn), trend)
    runs = [
        RunRow(
            run_id=r.run_id,
            trace_id=r.trace_id,
            created_at=r.created_at,
            status=r.status,
            color=_color(r.status),
            score=r.performance_score,
            p95=r.p95_latency_ms,
            rps=r.rps,
            error_rate=r.error_rate,
            flags=_flags(r),
        )
        for r in reversed(shown)
    ]
    return SeriesPage(store=store_label, tile=seen, charts=charts, note=note, change_points=words, runs=runs)


def _module_runs(store: MemoryStore, module_id: str | None) -> list[StoredRun]:
    """The latest run of every series of the module (the report's coverage map), from history rows."""
    keys = [key for key in store.keys() if key.module_id == module_id]  # noqa: SIM118 (a store)
    return [stored_run(row) for key in keys for row in store.rows(key, limit=1)]


def run_report(store: MemoryStore, run_id: str) -> tuple[v.Report, SeriesKey] | None:
    """The report of one stored run, as ``run`` wrote it (its series history up to that run), and its
    series."""
    record = store.get(run_id)
    test = _metrics(record) if record is not None else None
    if record is None or test is None:
        return None
    rows = store.rows(record.key)
    upto = next((i for i, r in enumerate(rows) if r.run_id == run_id), len(rows) - 1) + 1
    window = rows[max(0, upto - HISTORY_RUNS) : upto]
    index = test.test_index if test.test_index is not None else 0
    inputs = ReportInputs(
        suite=test,
        history={index: SeriesHistory([stored_run(r) for r in window], truncated=upto > HISTORY_RUNS)},
        module_runs=_module_runs(store, test.module_id),
    )
    when: datetime | None = record.created_at
    return build_report(inputs, now=when), record.key
