"""From a judged suite (and what memory holds of its series) to the report's view models.

Everything shown is read from perf-metrics and the stored runs; nothing is recomputed except what drawing
needs: a long timeline is downsampled (the worst latency and in-flight and the mean rate of each bucket, so
spikes stay visible, and the chart says how many seconds a point stands for), and the latency histogram is
regrouped into fewer, still logarithmic, bins.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.models.metrics import (
    BaselineComparison,
    PerfMetrics,
    SoakReport,
    SpikeReport,
    StressReport,
    SurfaceFigures,
    TimelinePoint,
)
from sk_loadagent.publish.artifacts import tile_actions
from sk_loadagent.publish.report import views as v
from sk_loadagent.publish.score_log import limit_outcomes
from sk_loadagent.publish.text import ms, test_sentence, tile_summary
from sk_loadagent.publish.tiles import tile_color

MAX_POINTS = 600  # timeline points drawn per line; a 30-minute soak's 1,800 seconds become 600 points
DISTRIBUTION_BINS = 40
HEATMAP_RUNS = 20
_LATENCY_LIMITS = {"latencyP50": "p50", "latencyP95": "p95", "latencyP99": "p99"}
_RETRY_BADGES = {"recovered": "Recovered after retry", "escalated": "Escalated for review"}
_COMPONENTS = (
    ("latency", "latencyScore"),
    ("throughput", "throughputScore"),
    ("errorRate", "errorRateScore"),
    ("resourceUtilization", "resourceUtilizationScore"),
    ("baselineDelta", "baselineDeltaScore"),
)
_BANDS = ((0.90, "pass ≥ 0.90"), (0.75, "warning ≥ 0.75"), (0.50, "degraded ≥ 0.50"))
EXPLORATORY_NOTE = "no baseline: exploratory"  # analysis.regression's note for a run without a baseline


@dataclass(frozen=True)
class StoredRun:
    """What the report needs of a run memory keeps (the suite layer reads the store)."""

    run_id: str
    trace_id: str | None
    created_at: datetime | None
    status: str | None
    score: float | None
    p95: float | None
    is_baseline: bool = False
    infrastructure_failure: bool = False
    retry_attempt: int = 0
    retry_outcome: str | None = None
    edition_id: str | None = None
    endpoint: str | None = None
    test_type: str | None = None


@dataclass(frozen=True)
class SeriesHistory:
    """The latest runs of one test's series, oldest first (the run being reported last), and whether
    older runs were left out."""

    runs: list[StoredRun]
    truncated: bool = False


@dataclass(frozen=True)
class ReportInputs:
    """What the report is made of: the judged suite, each test's series history by test index, the
    latest stored run of each series of the module (the coverage map), and why memory is missing."""

    suite: PerfMetrics
    history: Mapping[int, SeriesHistory]
    module_runs: Sequence[StoredRun] = ()
    memory_note: str | None = None
    explanation: str | None = None


def _color(status: str | None) -> v.Color:
    return tile_color(status) or "grey"


def _tests(suite: PerfMetrics) -> list[PerfMetrics]:
    return suite.tests or [suite]


def _index(test: PerfMetrics, position: int) -> int:
    return test.test_index if test.test_index is not None else position


def _title(test: PerfMetrics) -> str:
    return test.test_name or " ".join(p for p in (test.test_type, test.endpoint) if p) or "test"


# -- tiles ------------------------------------------------------------------------------------------------


def _retry_badge(test: PerfMetrics) -> str | None:
    retry = test.retry
    if retry is None:
        return None
    badge = _RETRY_BADGES.get(retry.outcome or "")
    attempts = f"{retry.retry_attempt} retr{'y' if retry.retry_attempt == 1 else 'ies'}"
    return f"{badge} ({attempts})" if badge else attempts


def tile(test: PerfMetrics, position: int, *, report: bool = True) -> v.Tile:
    return v.Tile(
        anchor=f"test-{_index(test, position)}",
        title=_title(test),
        test_type=test.test_type or "load",
        endpoint=test.endpoint,
        status=test.status or "unknown",
        color=_color(test.status),
        score=test.performance_score,
        regression=bool(test.regression),
        summary=test_sentence(test),
        retry_badge=_retry_badge(test),
        actions=[a for a in tile_actions(test, report=report) if a != "view-report"],
        gated=not test.excluded_from_gate,
    )


# -- timeline ---------------------------------------------------------------------------------------------


def _step(timeline: Sequence[TimelinePoint]) -> float:
    if len(timeline) < 2:
        return 1.0
    gaps = np.diff([p.t for p in timeline])
    return float(np.median(gaps)) or 1.0


def _bucketed(values: list[float | None], size: int, how: str) -> list[float | None]:
    out: list[float | None] = []
    for start in range(0, len(values), size):
        chunk = [x for x in values[start : start + size] if x is not None]
        if not chunk:
            out.append(None)
        else:
            out.append(max(chunk) if how == "max" else sum(chunk) / len(chunk))
    return out


def _downsample(
    timeline: Sequence[TimelinePoint],
) -> tuple[list[float], dict[str, list[float | None]], int]:
    """x positions and each drawn series; the bucket size in points (1: drawn as measured)."""
    step = _step(timeline)
    raw: dict[str, list[float | None]] = {
        "p50": [p.p50 for p in timeline],
        "p95": [p.p95 for p in timeline],
        "p99": [p.p99 for p in timeline],
        "rps": [p.rps for p in timeline],
        "failed": [p.errors / step for p in timeline],
        "inFlight": [float(p.in_flight) for p in timeline],
    }
    size = max(1, math.ceil(len(timeline) / MAX_POINTS))
    xs = [p.t for p in timeline][::size]
    if size == 1:
        return xs, raw, 1
    how = {"rps": "mean", "failed": "mean"}
    return xs, {name: _bucketed(values, size, how.get(name, "max")) for name, values in raw.items()}, size


def _line(name: str, role: str, xs: list[float], ys: list[float | None]) -> v.Line:
    return v.Line(
        name=name,
        role=role,
        points=[(x, None if y is None else round(y, 3)) for x, y in zip(xs, ys, strict=True)],
    )


def _limits(test: PerfMetrics) -> dict[str, float]:
    return {limit.metric: limit.limit for limit in test.thresholds or []}


def _spans(test: PerfMetrics) -> list[v.Span]:
    return [v.Span(label=p.name, start=p.start, end=p.end, measured=p.measured) for p in test.phases or []]


def _recovery_mark(test: PerfMetrics) -> list[v.Mark]:
    spike = test.spike
    recovery = next((p for p in test.phases or [] if p.name == "recovery"), None)
    if spike is None or spike.recovery_time_ms is None or recovery is None:
        return []
    return [v.Mark(label="recovered", role="recovered", x=recovery.start + spike.recovery_time_ms / 1000)]


def timeline_charts(test: PerfMetrics, anchor: str) -> list[v.Chart]:
    timeline = test.timeline or []
    if len(timeline) < 2:  # one point draws no line (a bridged Locust run has one window for the whole run)
        return []
    xs, drawn, size = _downsample(timeline)
    note = (
        f"{len(timeline):,} seconds drawn as {len(xs):,} points: each shows the highest latency and "
        "in-flight "
        f"count and the mean rate of {size} seconds (perf-metrics.json keeps every second)"
        if size > 1
        else None
    )
    limits = _limits(test)
    spans = _spans(test)
    latency = v.Chart(
        id=f"{anchor}-latency",
        title="Latency over time",
        unit="ms",
        lines=[_line(name, name, xs, drawn[name]) for name in ("p50", "p95", "p99")],
        rules=[
            v.Rule(label=f"{label} limit {limits[metric]:g} ms", role=f"limit-{label}", value=limits[metric])
            for metric, label in _LATENCY_LIMITS.items()
            if metric in limits
        ],
        marks=_recovery_mark(test),
        spans=spans,
        y_min=0,
        note=note,
    )
    target = [(p.start, p.target_rps) for p in test.phases or [] if p.target_rps is not None]
    throughput = v.Chart(
        id=f"{anchor}-throughput",
        title="Throughput: successful and failed requests per second",
        unit="req/s",
        lines=[
            _line("rps", "rps", xs, drawn["rps"]),
            _line("failed rps", "failed", xs, drawn["failed"]),
            *([_target_line(test, target)] if target else []),
        ],
        rules=[v.Rule(label=f"rps min {limits['rpsMin']:g}", role="limit-rps", value=limits["rpsMin"])]
        if "rpsMin" in limits
        else [],
        spans=spans,
        y_min=0,
        note=note,
    )
    in_flight = v.Chart(
        id=f"{anchor}-inflight",
        title="Requests in flight",
        unit="requests",
        lines=[_line("in flight", "inFlight", xs, drawn["inFlight"])],
        spans=spans,
        y_min=0,
        note=note,
    )
    return [latency, throughput, in_flight]


def _target_line(test: PerfMetrics, starts: list[tuple[float, float]]) -> v.Line:
    """The planned rate as steps: each phase's target from its start to its end."""
    points: list[tuple[float, float | None]] = []
    for phase in test.phases or []:
        if phase.target_rps is not None:
            points += [(phase.start, phase.target_rps), (phase.end, phase.target_rps)]
    return v.Line(name="target rps", role="target", points=points or [(x, y) for x, y in starts])


# -- distribution, errors ---------------------------------------------------------------------------------


def distribution(test: PerfMetrics, anchor: str) -> v.BarChart | None:
    """The latency histogram regrouped into ``DISTRIBUTION_BINS`` log-spaced bins, percentiles and limits
    marked."""
    if not test.latency_histogram:
        return None
    try:
        histogram = LatencyHistogram.from_sparse(test.latency_histogram)
    except ValueError:
        return None
    counts = histogram.counts
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return None
    values_ms = histogram.bucket_values()[nonzero] * 1000.0
    low, high = float(values_ms.min()), float(values_ms.max())
    edges = (
        np.geomspace(low, high * 1.0001, DISTRIBUTION_BINS + 1) if high > low else np.array([low, low * 1.01])
    )
    which = np.clip(np.searchsorted(edges, values_ms, side="right") - 1, 0, len(edges) - 2)
    binned = np.bincount(which, weights=counts[nonzero], minlength=len(edges) - 1)
    total = float(binned.sum())
    bars = [
        v.Bar(
            label=f"{math.sqrt(edges[i] * edges[i + 1]):.4g}",
            value=float(binned[i]),
            role="count",
            detail=f"{edges[i]:.3g}–{edges[i + 1]:.3g} ms: {int(binned[i]):,} requests "
            f"({binned[i] / total:.1%})",
        )
        for i in range(len(binned))
    ]
    marks = []
    if test.latency is not None:
        for name in ("p50", "p95", "p99"):
            value = getattr(test.latency, name)
            if value is not None:
                marks.append(v.Mark(label=f"{name} {ms(value)}", role=name, x=value))
    limits = _limits(test)
    marks += [
        v.Mark(label=f"{label} limit {limits[m]:g} ms", role=f"limit-{label}", x=limits[m])
        for m, label in _LATENCY_LIMITS.items()
        if m in limits
    ]
    return v.BarChart(
        id=f"{anchor}-distribution",
        title="Latency distribution",
        unit="ms",
        bars=bars,
        rules=marks,
        log_x=True,
        note=f"{int(total):,} requests in {len(bars)} log-spaced bins (histogram relative error ≤ 1 %)",
    )


def error_bars(test: PerfMetrics, anchor: str) -> v.BarChart | None:
    errors = {name: count for name, count in (test.errors or {}).items() if count}
    if not errors:
        return None
    total = test.requests or sum(errors.values())
    return v.BarChart(
        id=f"{anchor}-errors",
        title="Errors by class",
        unit="requests",
        bars=[
            v.Bar(label=name, value=float(count), role="failed", detail=f"{count:,} of {total:,} requests")
            for name, count in sorted(errors.items(), key=lambda item: -item[1])
        ],
    )


# -- comparison, score, limits ----------------------------------------------------------------------------

_SPELLED = re.compile(r"^([+-]?\d+(?:\.\d+)?)(%|pp)$")


def spelled_fraction(text: str | None) -> float | None:
    """``"+35%"`` -> 0.35, ``"-1.2pp"`` -> -0.012 (the spellings of ``analysis._format``)."""
    found = _SPELLED.match((text or "").strip())
    return None if found is None else float(found.group(1)) / 100.0


_UNITS = {"p95": "ms", "p99": "ms", "rps": "req/s", "errorRate": "rate"}


def comparison(test: PerfMetrics) -> v.Comparison | None:
    found: BaselineComparison | None = test.baseline_comparison
    if found is None:
        return None
    intervals = [
        v.Interval(
            metric=name,
            baseline=metric.baseline,
            current=metric.current,
            unit=_UNITS.get(name, ""),
            delta=spelled_fraction(metric.delta),
            low=spelled_fraction(metric.interval.low) if metric.interval else None,
            high=spelled_fraction(metric.interval.high) if metric.interval else None,
            spelled=metric.delta,
            tolerance=None,
            regressed=metric.regressed,
            confidence=metric.confidence,
        )
        for name, metric in (found.metrics or {}).items()
    ]
    # The page says "no baseline yet" itself; other notes (a baseline under another load) stay.
    notes = [n for n in found.notes or [] if n != EXPLORATORY_NOTE]
    return v.Comparison(
        baseline_trace=found.baseline_trace_id,
        exploratory=bool(found.exploratory),
        regressed=bool(found.regressed),
        intervals=intervals,
        notes=[*notes, *([found.method] if found.method else [])],
    )


def score_rows(test: PerfMetrics) -> list[v.ScoreRow]:
    if test.score_components is None or test.score_weights is None:
        return []
    components = test.score_components.to_wire()
    weights = test.score_weights.to_wire()
    rows = []
    for weight_name, component_name in _COMPONENTS:
        if component_name not in components:  # not measured: left out of the score
            continue
        weight, value = float(weights[weight_name]), float(components[component_name])
        rows.append(
            v.ScoreRow(
                component=weight_name, weight=weight, value=value, contribution=round(weight * value, 4)
            )
        )
    return rows


def limit_rows(test: PerfMetrics) -> list[v.Limit]:
    return [
        v.Limit(
            metric=o.limit.metric,
            limit=o.limit.limit,
            observed=o.observed,
            source=o.limit.source,
            violated=o.violation is not None,
            severity=o.violation.severity if o.violation else None,
        )
        for o in limit_outcomes(test)
    ]


# -- test types -------------------------------------------------------------------------------------------


def _f(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "–" if value is None else f"{format(value, spec)}{unit}"


def _spike_finding(s: SpikeReport) -> str:
    recovery = (
        f"recovered in {s.recovery_time_ms / 1000:.1f} s"
        if s.recovery_time_ms is not None and s.recovered
        else "did not recover"
    )
    return (
        f"Spike {s.baseline_rps:g} → {s.peak_rps:g} rps: p95 {ms(s.baseline_latency_ms)} at "
        f"baseline, {ms(s.spike_latency_ms)} in the spike; {recovery} ({s.recovery_criterion})."
    )


def _soak_finding(s: SoakReport) -> str:
    return (
        f"Soak: latency slope {_f(s.latency_slope_ms_per_min, '+.3g')} ms/min "
        f"(p {_f(s.latency_slope_p_value, '.3g')}), memory slope {_f(s.memory_slope_mb_per_min, '+.3g')} "
        f"MB/min (p {_f(s.memory_slope_p_value, '.3g')}): {s.verdict}."
    )


def _stress_finding(s: StressReport) -> str:
    return (
        f"Stress: held up to {_f(s.breaking_point_rps, 'g')} rps (design limit "
        f"{_f(s.design_limit_rps, 'g')} rps); first failed at {_f(s.first_failed_rps, 'g')} rps"
        + (f" ({s.failure_mode})." if s.failure_mode else ".")
    )


def type_findings(test: PerfMetrics) -> list[str]:
    """What a spike, soak or stress test found, in a sentence each."""
    found: list[str] = []
    if test.spike is not None:
        found.append(_spike_finding(test.spike))
    if test.soak is not None:
        found.append(_soak_finding(test.soak))
    if test.stress is not None:
        found.append(_stress_finding(test.stress))
    return found


def type_tables(test: PerfMetrics) -> list[v.Table]:
    tables = []
    if test.stress is not None:
        steps = test.stress.steps
        tables.append(
            v.Table(
                title="Stress steps",
                headers=["target rps", "achieved rps", "p95 ms", "errors", "held", "why not"],
                rows=[
                    [
                        f"{s.rps:g}",
                        f"{s.achieved_rps:.1f}",
                        _f(s.p95),
                        f"{s.error_rate:.2%}",
                        "yes" if s.held else "no",
                        s.reason or "",
                    ]
                    for s in steps
                ],
                emphasis=[i for i, s in enumerate(steps) if not s.held],
            )
        )
    if test.soak is not None:
        windows = test.soak.windows
        tables.append(
            v.Table(
                title="Soak windows",
                headers=["window", "p95 ms", "rps", "errors", "target memory MB"],
                rows=[
                    [
                        f"{w.start:.0f}–{w.end:.0f} s",
                        _f(w.p95),
                        f"{w.rps:.1f}",
                        f"{w.error_rate:.2%}",
                        _f(w.memory_mb),
                    ]
                    for w in windows
                ],
            )
        )
    if test.latency_profile:
        tables.append(
            v.Table(
                title="Latency by payload size",
                headers=["payload", "requests", "p50 ms", "p95 ms", "p99 ms", "errors"],
                rows=[
                    [
                        f"{p.size_bytes:,} B",
                        f"{p.requests:,}",
                        _f(p.latency.p50),
                        _f(p.latency.p95),
                        _f(p.latency.p99),
                        f"{p.error_rate:.2%}",
                    ]
                    for p in test.latency_profile
                ],
            )
        )
    if test.surface is not None:
        tables.append(_surface_table(test.surface))
    tables += [_surface_table(s.surface, step=s.name) for s in test.steps or [] if s.surface is not None]
    return tables


_SURFACE_TIMINGS = (
    ("timeToAck", "time to ack"),
    ("connectTime", "connect time"),
    ("pushLatency", "push latency"),
    ("messageGap", "gap between streamed messages"),
    ("triggerTime", "trigger round trip"),
    ("retryLag", "sender retry lag"),
    ("submitTime", "submit round trip"),
)


def _surface_table(surface: SurfaceFigures, step: str | None = None) -> v.Table:
    """A surface's own figures (perf-metrics ``surface``, or a flow step's ``steps[i].surface``): one row
    per figure it has."""
    wire = surface.to_wire()
    rows = [
        [label, f"p50 {_f(wire[key].get('p50'))} ms, p99 {_f(wire[key].get('p99'))} ms"]
        for key, label in _SURFACE_TIMINGS
        if key in wire
    ]
    for key in ("streamMessages", "polls"):
        if key in wire:
            c = wire[key]
            rows.append(
                [key, f"{c['total']:,} over {c['units']:,} (mean {c.get('mean')}, max {c.get('max')})"]
            )
    rows += [
        [d["name"], f"depth max {d.get('max', 0):g}, last {d.get('last', 0):g}"]
        for d in wire.get("depth", [])
    ]
    skip = {
        "kind",
        "target",
        "lagFrom",
        "depth",
        "streamMessages",
        "polls",
        *(k for k, _ in _SURFACE_TIMINGS),
    }
    rows += [
        [key, f"{value:,}" if isinstance(value, int) else str(value)]
        for key, value in wire.items()
        if key not in skip
    ]
    if not rows:
        beyond = "the latency and errors above" if step is None else "the step's latency and errors"
        rows = [["figures", f"none beyond {beyond} (a unary method)"]]
    what = f"{surface.kind} {surface.target}"
    title = f"{what}: latency from the intended {surface.lag_from.removeprefix('intended-')}"
    if step is not None:
        title = f"Step {step}, {what}: latency from the moment the step was due"
    return v.Table(title=title, headers=["figure", "value"], rows=rows)


def type_charts(test: PerfMetrics, anchor: str) -> list[v.Chart]:
    soak = test.soak
    if soak is None or not soak.windows:
        return []
    mids = [(w.start + w.end) / 2 for w in soak.windows]
    charts = [
        v.Chart(
            id=f"{anchor}-soak-p95",
            title="Soak: p95 per window",
            unit="ms",
            lines=[_line("p95", "p95", mids, [w.p95 for w in soak.windows])],
            y_min=0,
        )
    ]
    memory = [w.memory_mb for w in soak.windows]
    if any(m is not None for m in memory):
        charts.append(
            v.Chart(
                id=f"{anchor}-soak-memory",
                title="Soak: target memory per window",
                unit="MB",
                lines=[_line("memory", "memory", mids, memory)],
            )
        )
    return charts


# -- history ----------------------------------------------------------------------------------------------


def _run_label(run: StoredRun) -> str:
    return run.trace_id or run.run_id[:8]


def history_charts(
    test: PerfMetrics, history: SeriesHistory | None, anchor: str
) -> tuple[list[v.Chart], str | None]:
    if history is None or not history.runs:
        return [], None
    runs = history.runs
    xs = list(range(len(runs)))
    limits = _limits(test)
    baseline = next((r for r in reversed(runs) if r.is_baseline and r.p95 is not None), None)
    rules = []
    if baseline is not None and baseline.p95 is not None:
        rules.append(
            v.Rule(
                label=f"baseline {ms(baseline.p95)} ({_run_label(baseline)})",
                role="baseline",
                value=baseline.p95,
            )
        )
    if "latencyP95" in limits:
        rules.append(
            v.Rule(
                label=f"p95 limit {limits['latencyP95']:g} ms", role="limit-p95", value=limits["latencyP95"]
            )
        )
    position = {run.run_id: i for i, run in enumerate(runs)}
    marks = [v.Mark(label="this run", role="current", x=len(runs) - 1)]
    details = test.baseline_comparison.change_point_details if test.baseline_comparison else None
    for point in details or []:
        at = position.get(point.run_id_after or "")
        if at is not None:
            marks.append(
                v.Mark(
                    label=f"change {point.rel_change or ''} (p={point.p_value:.3f})".replace("  ", " "),
                    role="change",
                    x=at - 0.5,
                )
            )
    p95_dots = [
        v.Dot(
            x=i,
            y=r.p95,
            color="grey" if r.infrastructure_failure else _color(r.status),
            label=f"{_run_label(r)}: p95 {ms(r.p95)}, {r.status or 'no status'}"
            + (" (baseline)" if r.is_baseline else "")
            + (" (infrastructure failure)" if r.infrastructure_failure else ""),
        )
        for i, r in enumerate(runs)
        if r.p95 is not None
    ]
    labels = {0: _run_label(runs[0]), len(runs) - 1: f"{_run_label(runs[-1])} (this run)"}
    trend = v.Chart(
        id=f"{anchor}-history-p95",
        title="p95 across stored runs of this series",
        unit="ms",
        x_kind="runs",
        lines=[
            _line(
                "p95",
                "p95",
                [float(x) for x in xs],
                [None if r.infrastructure_failure else r.p95 for r in runs],
            )
        ],
        rules=rules,
        marks=marks,
        dots=p95_dots,
        x_labels=labels,
        y_min=0,
    )
    score = v.Chart(
        id=f"{anchor}-history-score",
        title="Score across stored runs",
        unit="score",
        x_kind="runs",
        lines=[_line("score", "score", [float(x) for x in xs], [r.score for r in runs])],
        rules=[v.Rule(label=label, role="band", value=floor) for floor, label in _BANDS],
        marks=marks,
        dots=[
            v.Dot(
                x=i,
                y=r.score,
                color=_color(r.status),
                label=f"{_run_label(r)}: score {r.score:.2f}, {r.status}",
            )
            for i, r in enumerate(runs)
            if r.score is not None
        ],
        x_labels=labels,
        y_min=0,
        y_max=1,
    )
    shown = f"the latest {len(runs)} runs of the series" if len(runs) > 1 else "the series' only stored run"
    note = shown + (" (older runs left out)" if history.truncated else "")
    return [trend, score], note


def retry_heatmap(inputs: ReportInputs) -> v.Heatmap | None:
    """Rows: the tests of this run; columns: their series' latest runs, this run last; a cell counts the
    run's retries and is coloured by how they ended."""
    rows: list[str] = []
    cells: list[v.HeatCell] = []
    width = 1
    series = []
    for position, test in enumerate(_tests(inputs.suite)):
        history = inputs.history.get(_index(test, position))
        runs = history.runs[-HEATMAP_RUNS:] if history and history.runs else [_as_run(test)]
        series.append((test, runs))
        width = max(width, len(runs))
    for row, (test, runs) in enumerate(series):
        rows.append(_title(test))
        offset = width - len(runs)
        for i, run in enumerate(runs):
            color = _retry_color(run)
            outcome = f", {run.retry_outcome}" if run.retry_outcome else ""
            cells.append(
                v.HeatCell(
                    row=row,
                    column=offset + i,
                    value=run.retry_attempt,
                    color=color,
                    label=f"{_run_label(run)}: {run.retry_attempt} retries{outcome}, "
                    f"{run.status or 'no status'}",
                )
            )
    columns = [("this run" if c == width - 1 else f"−{width - 1 - c}") for c in range(width)]
    return v.Heatmap(
        title="Retries per test across recent runs",
        rows=rows,
        columns=columns,
        cells=cells,
        note=None if inputs.history else "memory not read: this run only",
    )


def _retry_color(run: StoredRun) -> v.Color:
    """Yellow: retried and recovered; red: escalated; green: a good run without retries; grey: the rest."""
    if run.retry_outcome == "recovered":
        return "yellow"
    if run.retry_outcome == "escalated":
        return "red"
    return "green" if run.retry_attempt == 0 and run.status in ("pass", "warning") else "grey"


def _as_run(test: PerfMetrics) -> StoredRun:
    retry = test.retry
    return StoredRun(
        run_id="this-run",
        trace_id=test.trace_id,
        created_at=test.test_start_time,
        status=test.status,
        score=test.performance_score,
        p95=test.latency.p95 if test.latency else None,
        retry_attempt=retry.retry_attempt if retry else (test.retry_attempt or 0),
        retry_outcome=retry.outcome if retry else None,
        edition_id=test.edition_id,
        endpoint=test.endpoint,
        test_type=test.test_type,
    )


def coverage(inputs: ReportInputs) -> v.Coverage:
    """Tested paths per edition: this run's (its load-trace-map) and the latest stored run of every other
    series of the module."""
    latest: dict[tuple[str, str, str], StoredRun] = {}
    oldest_first = sorted(inputs.module_runs, key=lambda r: r.created_at or datetime.min.replace(tzinfo=UTC))
    for run in oldest_first:
        latest[(run.edition_id or "default", run.endpoint or "-", run.test_type or "load")] = run
    for test in _tests(inputs.suite):
        latest[(test.edition_id or "default", test.endpoint or "-", test.test_type or "load")] = _as_run(test)
    editions = sorted({k[0] for k in latest})
    endpoints = sorted({k[1] for k in latest})
    kinds = sorted({k[2] for k in latest})
    cells = [
        v.CoverageCell(
            edition=edition,
            endpoint=endpoint,
            test_type=kind,
            status=run.status,
            color=_color(run.status),
            detail=f"{_run_label(run)}: {run.status or 'no status'}"
            + (f", p95 {ms(run.p95)}" if run.p95 is not None else "")
            + (f", score {run.score:.2f}" if run.score is not None else ""),
        )
        for (edition, endpoint, kind), run in sorted(latest.items())
    ]
    return v.Coverage(editions=editions, endpoints=endpoints, test_types=kinds, cells=cells)


# -- the report -------------------------------------------------------------------------------------------


def _facts(test: PerfMetrics) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    if test.requests is not None:
        facts.append(("requests", f"{test.requests:,}"))
    if test.test_duration is not None:
        facts.append(("duration", f"{test.test_duration:g} s"))
    if test.latency is not None:
        lat = test.latency
        facts.append(("p50 / p95 / p99", f"{ms(lat.p50)} / {ms(lat.p95)} / {ms(lat.p99)}"))
    if test.rps is not None:
        target = f" of {test.target_rps:.4g} planned" if test.target_rps else ""
        facts.append(("rps", f"{test.rps:.4g}{target}"))
    if test.error_rate is not None:
        facts.append(("error rate", f"{test.error_rate:.2%}"))
    if test.cpu_usage_pct is not None:
        facts.append(("target CPU", f"{test.cpu_usage_pct:.1f} %"))
    if test.load_profile:
        facts.append(("load profile", test.load_profile))
    if test.generator is not None:
        g = test.generator
        facts.append(
            ("generator", f"{g.workers} worker(s), {g.late_starts:,} late starts, {g.dropped:,} dropped")
        )
    if test.cluster is not None:
        facts.append(("cluster", _cluster_fact(test)))
    if test.measurement is not None:
        facts.append(
            ("measured from", f"{test.measurement.source}, timed from the {test.measurement.timed_from}")
        )
        if test.measurement.generated_by:
            facts.append(("load generated by", f"{test.measurement.generated_by} (the user's own script)"))
        if test.measurement.approximate:
            facts.append(("approximate", test.measurement.approximate))
    if test.test_start_time is not None:
        facts.append(("started", test.test_start_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")))
    return facts


def _cluster_fact(test: PerfMetrics) -> str:
    """A distributed run in one line: nodes, workers, the widest clock offset, and any share lost."""
    assert test.cluster is not None
    nodes = test.cluster.nodes
    workers = sum(len(n.workers) for n in nodes)
    offset = max((abs(n.clock_offset_ms) for n in nodes), default=0.0)
    text = f"{len(nodes)} node(s), {workers} worker(s); clock offsets within {offset:.2f} ms"
    lost = [n.address for n in nodes if n.lost]
    if lost:
        text += f"; {test.cluster.missing_share:.0%} of the schedule lost with {', '.join(lost)}"
    return text


def test_view(test: PerfMetrics, position: int, history: SeriesHistory | None) -> v.TestView:
    shown = tile(test, position)
    charts, note = history_charts(test, history, shown.anchor)
    return v.TestView(
        tile=shown,
        reasons=list(test.reasons or []),
        warnings=list(test.warnings or []),
        facts=_facts(test),
        timeline=timeline_charts(test, shown.anchor),
        distribution=distribution(test, shown.anchor),
        errors=error_bars(test, shown.anchor),
        comparison=comparison(test),
        score=score_rows(test),
        score_total=test.performance_score,
        limits=limit_rows(test),
        findings=type_findings(test),
        tables=type_tables(test),
        type_charts=type_charts(test, shown.anchor),
        history=charts,
        history_note=note,
    )


def build_report(inputs: ReportInputs, *, now: datetime | None = None) -> v.Report:
    suite = inputs.suite
    tests = _tests(suite)
    counts: dict[str, int] = {}
    for test in tests:
        counts[test.status or "unknown"] = counts.get(test.status or "unknown", 0) + 1
    views = [test_view(t, i, inputs.history.get(_index(t, i))) for i, t in enumerate(tests)]
    return v.Report(
        title=f"{suite.module_id or 'Suite'} performance report",
        trace_id=suite.trace_id,
        module_id=suite.module_id,
        edition_id=suite.edition_id,
        generated_at=now or datetime.now(UTC),
        status=suite.status or "unknown",
        color=_color(suite.status),
        score=suite.performance_score,
        summary=tile_summary(suite),
        badge=_retry_badge(suite),
        counts=counts,
        regressions=sum(1 for t in tests if t.regression),
        tiles=[view.tile for view in views],
        tests=views,
        retry_heatmap=retry_heatmap(inputs),
        coverage=coverage(inputs),
        explanation=inputs.explanation,
        memory=inputs.memory_note,
    )
