"""The build badge of spec cycle 9: an SVG per module and edition, ``performance | 0.94 pass``, coloured by
the band (``tiles.badge_color``), in the flat style CI pages show beside a build."""

from __future__ import annotations

from html import escape
from pathlib import Path

from sk_loadagent.atomic import write_atomic
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish import paths
from sk_loadagent.publish.tiles import badge_color

FILL = {"green": "#2e7d32", "yellow": "#b58900", "red": "#c62828", None: "#6b7280"}
_LABEL = "performance"
# Verdana 11 px averages about 6.6 px a character; the badge is sized from it, as badge services do.
_CHAR_PX, _PAD_PX = 6.6, 10


def _width(text: str) -> int:
    return round(len(text) * _CHAR_PX) + _PAD_PX


def badge_text(suite: PerfMetrics) -> str:
    score = f"{suite.performance_score:.2f} " if suite.performance_score is not None else ""
    return f"{score}{suite.status or 'no result'}"


def badge_svg(suite: PerfMetrics) -> str:
    value = badge_text(suite)
    fill = FILL[badge_color(suite.status)]
    left, right = _width(_LABEL), _width(value)
    total = left + right
    title = escape(f"{suite.module_id or 'module'} / {suite.edition_id or 'default'}: {_LABEL} {value}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{title}">'
        f"<title>{title}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{fill}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2:.1f}" y="14">{_LABEL}</text>'
        f'<text x="{left + right / 2:.1f}" y="14">{escape(value)}</text>'
        "</g></svg>\n"
    )


def write_badge(out_dir: Path, suite: PerfMetrics) -> Path:
    """badges/<edition>/<module>.svg under ``out_dir``."""
    return write_atomic(paths.badge_path(out_dir, suite.edition_id, suite.module_id), badge_svg(suite))
