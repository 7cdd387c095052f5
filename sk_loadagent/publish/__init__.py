"""Artifacts of a run: perf-metrics.json, load-trace-map.yaml, the Studio preview, the score log, alerts."""

from sk_loadagent.publish.artifacts import write_artifacts
from sk_loadagent.publish.score_log import write_score_log

__all__ = ["write_artifacts", "write_score_log"]
