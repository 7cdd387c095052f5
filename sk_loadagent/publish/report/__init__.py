"""report.html: a self-contained page of a run (spec cycle 19's Studio views, with thresholds, baselines,
confidence and change points drawn where the numbers are).

``build_report`` makes the view models (``views``) from a judged suite and what memory holds of its series;
``render_report`` turns them into HTML; ``write_report`` does both into a folder.
"""

from __future__ import annotations

from pathlib import Path

from sk_loadagent.atomic import write_atomic
from sk_loadagent.publish import paths
from sk_loadagent.publish.report.build import ReportInputs, SeriesHistory, StoredRun, build_report
from sk_loadagent.publish.report.render import render_report


def write_report(out_dir: Path, inputs: ReportInputs) -> Path:
    return write_atomic(out_dir / paths.REPORT, render_report(build_report(inputs)))


__all__ = ["ReportInputs", "SeriesHistory", "StoredRun", "build_report", "render_report", "write_report"]
