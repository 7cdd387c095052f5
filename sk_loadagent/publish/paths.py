"""Artifact file names, including the per-edition copies of spec cycle 14."""

from __future__ import annotations

import re
from pathlib import Path

PERF_METRICS = "perf-metrics.json"
TRACE_MAP = "load-trace-map.yaml"
PREVIEW = "studio.performance.preview.json"
SCORE_LOG = "performance-score.log.jsonl"
ALERT = "regression-alert.yaml"
REPORT = "report.html"
TRACE_SUMMARY = "trace-summary.json"
FLAMEGRAPH = "flamegraph.svg"
CPU_FLAMEGRAPH = "cpu-flamegraph.svg"
# Every top-level artifact, perf-metrics.json first: a new one belongs here, so that a run that fails
# removes an earlier run's copy of it too (publish.outdir).
TOP_LEVEL = (
    PERF_METRICS,
    TRACE_MAP,
    PREVIEW,
    SCORE_LOG,
    ALERT,
    REPORT,
    TRACE_SUMMARY,
    FLAMEGRAPH,
    CPU_FLAMEGRAPH,
)
# Studio's files accumulate across runs (publish.studio): a failed run leaves them as they were.
DOC_COVERAGE = "doc-coverage.metrics.json"
STUDIO_ANALYTICS = "studio.analytics.json"


def safe_name(name: str | None, default: str = "default") -> str:
    """A path component from an id: lowercase, no separators or dot-dot (``A/B`` -> ``a-b``)."""
    text = re.sub(r"[^a-z0-9._-]+", "-", (name or "").strip().lower()).strip("-.")
    return text or default


def edition_metrics_path(out_dir: Path, edition_id: str | None, module_id: str | None) -> Path:
    return out_dir / "metrics" / safe_name(edition_id) / f"{safe_name(module_id, 'module')}.json"


def edition_alert_path(out_dir: Path, edition_id: str | None, module_id: str | None) -> Path:
    return out_dir / "alerts" / safe_name(edition_id) / f"{safe_name(module_id, 'module')}.yaml"


def badge_path(out_dir: Path, edition_id: str | None, module_id: str | None) -> Path:
    return out_dir / "badges" / safe_name(edition_id) / f"{safe_name(module_id, 'module')}.svg"
