"""View models of the report: the data each part of a page shows, with no HTML in it.

``report.build`` makes them from perf-metrics and memory; ``report.render`` turns them into report.html,
and a dashboard can serve the same objects as JSON (``model_dump``) and draw them its own way. Numbers stay
numbers (ms, rps, 0–1 scores): formatting is the renderer's business. ``role`` names what a line, rule or
bar stands for (``p95``, ``limit``, ``baseline``…) so every renderer colours it the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Color = Literal["green", "yellow", "red", "grey"]


class View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Line(View):
    """A series of (x, y) points; y None leaves a gap (a second without a p95)."""

    name: str
    role: str
    points: list[tuple[float, float | None]]


class Rule(View):
    """A horizontal line at ``value``: a limit, a baseline level, a band boundary."""

    label: str
    role: str
    value: float


class Mark(View):
    """A vertical line at ``x``: a change point, the run being reported."""

    label: str
    role: str
    x: float


class Span(View):
    """A shaded stretch of the x axis: a phase of the test."""

    label: str
    start: float
    end: float
    measured: bool = True


class Dot(View):
    """A point drawn on its own, coloured by status (a run in a history trend)."""

    x: float
    y: float
    color: Color
    label: str


class Chart(View):
    """A line chart over time (seconds of a run) or over runs (a series' history)."""

    id: str
    title: str
    unit: str
    x_kind: Literal["seconds", "runs"] = "seconds"
    lines: list[Line] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    marks: list[Mark] = Field(default_factory=list)
    spans: list[Span] = Field(default_factory=list)
    dots: list[Dot] = Field(default_factory=list)
    x_labels: dict[int, str] = Field(default_factory=dict, description="run index -> label (x_kind runs)")
    y_min: float | None = None
    y_max: float | None = None
    note: str | None = Field(default=None, description="how the drawing relates to the data (downsampling)")


class Bar(View):
    label: str
    value: float
    role: str
    detail: str | None = None


class BarChart(View):
    """Bars over labels, or over a log axis of latencies (``log_x``: a distribution)."""

    id: str
    title: str
    unit: str
    bars: list[Bar]
    rules: list[Mark] = Field(default_factory=list, description="vertical marks: percentiles, limits")
    log_x: bool = False
    note: str | None = None


class Interval(View):
    """One metric against its baseline: the change and its 95 % interval as fractions (0.35 = +35 %)."""

    metric: str
    baseline: float | None
    current: float | None
    unit: str
    delta: float | None
    low: float | None
    high: float | None
    spelled: str | None
    tolerance: float | None
    regressed: bool
    confidence: float | None


class Comparison(View):
    baseline_trace: str | None
    exploratory: bool
    regressed: bool
    intervals: list[Interval]
    notes: list[str]


class ScoreRow(View):
    """One component of the score: its weight, its 0–1 value and what it added (weight × value)."""

    component: str
    weight: float
    value: float
    contribution: float


class Limit(View):
    metric: str
    limit: float
    observed: float | None
    source: str
    violated: bool
    severity: str | None


class Table(View):
    """A small table (stress steps, soak windows, payload sizes): headers and rows of text."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    emphasis: list[int] = Field(default_factory=list, description="indexes of rows to highlight")


class Tile(View):
    """A test as Studio shows it."""

    anchor: str
    title: str
    test_type: str
    endpoint: str | None
    status: str
    color: Color
    score: float | None
    regression: bool
    summary: str
    retry_badge: str | None
    actions: list[str]
    gated: bool


class TestView(View):
    tile: Tile
    reasons: list[str]
    warnings: list[str]
    facts: list[tuple[str, str]]
    timeline: list[Chart]
    distribution: BarChart | None
    errors: BarChart | None
    comparison: Comparison | None
    score: list[ScoreRow]
    score_total: float | None
    limits: list[Limit]
    findings: list[str]
    tables: list[Table]
    type_charts: list[Chart]
    history: list[Chart]
    history_note: str | None


class HeatCell(View):
    row: int
    column: int
    value: int
    color: Color
    label: str


class Heatmap(View):
    title: str
    rows: list[str]
    columns: list[str]
    cells: list[HeatCell]
    note: str | None = None


class CoverageCell(View):
    edition: str
    endpoint: str
    test_type: str
    status: str | None
    color: Color
    detail: str


class Coverage(View):
    editions: list[str]
    endpoints: list[str]
    test_types: list[str]
    cells: list[CoverageCell]


class Report(View):
    title: str
    trace_id: str | None
    module_id: str | None
    edition_id: str | None
    generated_at: datetime
    status: str
    color: Color
    score: float | None
    summary: str
    badge: str | None
    counts: dict[str, int]
    regressions: int = Field(description="tests flagged as a regression")
    tiles: list[Tile]
    tests: list[TestView]
    retry_heatmap: Heatmap | None
    coverage: Coverage | None
    explanation: str | None
    memory: str | None = Field(description="why history is missing, or None when memory was read")
