"""The dashboard's view models: the report's own (``publish.report.views``: tiles, charts, heatmaps) put
together per stored series, plus the cross-edition comparison. The pages render them and ``/api/*`` serves
them as JSON, so a reviewer's browser and a script see the same figures."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from sk_loadagent.publish.report import views as v


class SeriesTile(v.View):
    """One stored series as a Studio tile: its latest run's tile and where it sits."""

    token: str = Field(description="the series' id in /series/<token>")
    module_id: str | None
    edition_id: str | None
    test_type: str | None
    endpoint: str | None
    load_profile: str | None
    latest_run: str
    latest_at: datetime
    tile: v.Tile
    p95_trend: list[float | None] = Field(description="p95 (ms) of the latest runs, oldest first")
    runs_shown: int


class TileGroup(v.View):
    name: str
    tiles: list[SeriesTile]


class EditionCell(v.View):
    """The latest run of one edition in a comparison row."""

    edition: str
    run_id: str
    status: str | None
    color: v.Color
    p95: float | None
    score: float | None
    delta_p95: str | None = Field(description="deltaLatencyP95 against the run's own baseline")
    delta_fraction: float | None
    regressed: bool
    deviation: str | None = Field(description="p95 against the base edition's (editionDeviation)")


class EditionRow(v.View):
    """One module × test type × endpoint × load profile across editions."""

    module_id: str | None
    test_type: str | None
    endpoint: str | None
    load_profile: str | None
    base_edition: str | None
    cells: list[EditionCell]


class Filters(v.View):
    edition: str | None = None
    module: str | None = None
    test_type: str | None = None
    group: str = "module"


class Choices(v.View):
    editions: list[str]
    modules: list[str]
    test_types: list[str]


class Overview(v.View):
    """The dashboard's front page."""

    store: str
    problem: str | None = Field(default=None, description="why there is nothing to show (empty, newer)")
    filters: Filters
    choices: Choices
    series_total: int
    counts: dict[str, int]
    regressions: int
    groups: list[TileGroup]
    attention: list[SeriesTile] = Field(description="series whose latest run did not pass or regressed")
    editions: list[EditionRow]
    editions_shown: list[str]
    retry_heatmap: v.Heatmap | None


class RunRow(v.View):
    run_id: str
    trace_id: str | None
    created_at: datetime
    status: str | None
    color: v.Color
    score: float | None
    p95: float | None
    rps: float | None
    error_rate: float | None
    flags: list[str]


class SeriesPage(v.View):
    store: str
    tile: SeriesTile
    charts: list[v.Chart]
    note: str | None
    change_points: list[str]
    runs: list[RunRow]
