"""The dashboard's pages from its view models: Jinja2 templates in ``templates/``, the report's stylesheet
and chart drawing (``publish.report.svg``) reused so a series looks the same here and in report.html."""

from __future__ import annotations

import functools
from importlib import resources

import jinja2

from sk_loadagent.publish.report import svg
from sk_loadagent.publish.report import views as v
from sk_loadagent.publish.tiles import tile_color

from ._views import Overview, SeriesPage

SPARK_W, SPARK_H = 120, 28


def _text(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def report_css() -> str:
    return (
        resources.files("sk_loadagent.publish.report").joinpath("templates", "report.css").read_text("utf-8")
    )


@functools.cache
def _css() -> str:
    """The report's stylesheet and the dashboard's own, inlined in every page."""
    return report_css() + _text("dashboard.css")


def sparkline(values: list[float | None]) -> str:
    """A tiny p95 trend: one polyline (gaps where a run has no p95), the latest run dotted. Numbers only,
    so nothing needs escaping."""
    points = [(i, y) for i, y in enumerate(values) if y is not None]
    if len(points) < 2:
        return ""
    low = min(y for _, y in points)
    high = max(y for _, y in points)
    span = (high - low) or 1.0
    last = max(1, len(values) - 1)

    def at(i: int, y: float) -> tuple[float, float]:
        return 2 + i / last * (SPARK_W - 4), SPARK_H - 3 - (y - low) / span * (SPARK_H - 6)

    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (at(i, value) for i, value in points))
    x, y = at(*points[-1])
    return (
        f'<svg class="spark" viewBox="0 0 {SPARK_W} {SPARK_H}" width="{SPARK_W}" height="{SPARK_H}" '
        f'aria-hidden="true"><polyline class="line l-p95" points="{path}"/>'
        f'<circle class="dot d-grey" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/></svg>'
    )


def _heat_cell(heatmap: v.Heatmap, row: int, column: int) -> v.HeatCell | None:
    return next((c for c in heatmap.cells if c.row == row and c.column == column), None)


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_text), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.globals.update(
        line_chart=svg.line_chart,
        sparkline=sparkline,
        heat_cell=_heat_cell,
        status_color=lambda status: tile_color(status) or "grey",
        css=_css,
    )
    return env


def prepare() -> None:
    """Compile every page's template now, so the first visitor does not wait for it."""
    env = _environment()
    for name in ("overview.html.j2", "series.html.j2", "message.html.j2", "live.html.j2"):
        env.get_template(name)
    _css()


def render_overview(page: Overview, query: str) -> str:
    return _environment().get_template("overview.html.j2").render(page=page, query=query, store=page.store)


def render_series(page: SeriesPage) -> str:
    return _environment().get_template("series.html.j2").render(page=page, store=page.store)


def render_message(title: str, message: str, store: str) -> str:
    return _environment().get_template("message.html.j2").render(title=title, message=message, store=store)


def render_live(title: str) -> str:
    return _environment().get_template("live.html.j2").render(title=title)


def live_script() -> str:
    return _text("live.js")
