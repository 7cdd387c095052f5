"""report.html from the report's view models: one Jinja2 template, the stylesheet inlined, charts drawn as
inline SVG (``report.svg``). The page loads nothing: its Content-Security-Policy allows no request."""

from __future__ import annotations

import functools
from importlib import resources

import jinja2

from sk_loadagent.publish.report import svg
from sk_loadagent.publish.report import views as v
from sk_loadagent.publish.tiles import tile_color

_TEMPLATES = "templates"


def _text(name: str) -> str:
    return resources.files(__package__).joinpath(_TEMPLATES, name).read_text(encoding="utf-8")


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_text),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    # The chart functions return SVG they escaped themselves; the template marks it |safe.
    env.globals.update(
        line_chart=svg.line_chart,
        distribution_chart=svg.distribution_chart,
        interval_chart=svg.interval_chart,
        status_color=lambda status: tile_color(status) or "grey",
        max_weight=lambda rows: max((row.weight for row in rows), default=1.0) or 1.0,
        heat_cell=_heat_cell,
        coverage_row=_coverage_row,
        fmt=_measure,
    )
    return env


def _heat_cell(heatmap: v.Heatmap, row: int, column: int) -> v.HeatCell | None:
    return next((c for c in heatmap.cells if c.row == row and c.column == column), None)


def _coverage_row(coverage: v.Coverage, edition: str, endpoint: str) -> dict[str, v.CoverageCell]:
    return {c.test_type: c for c in coverage.cells if c.edition == edition and c.endpoint == endpoint}


def _measure(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "rate":
        return f"{value:.2%}"
    return f"{value:.4g} {unit}"


def prepare_report() -> None:
    """Compile the report's template now (a server renders many reports; the first need not wait)."""
    _environment().get_template("report.html.j2")


def render_report(report: v.Report, *, back: tuple[str, str] | None = None) -> str:
    """report.html; ``back`` (link, label) adds a way back to the page that served it (the dashboard)."""
    template = _environment().get_template("report.html.j2")
    return template.render(report=report, css=_text("report.css"), back=back)
