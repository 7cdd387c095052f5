"""Writing the artifacts of spec cycles 4, 14 and 16 under one output directory, each file atomically."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import yaml

from sk_loadagent.analysis.spans import span_anomaly
from sk_loadagent.atomic import write_atomic
from sk_loadagent.models.alert import RegressionAlert
from sk_loadagent.models.metrics import PerfMetrics, StepMetrics
from sk_loadagent.models.preview import PerformancePreview
from sk_loadagent.models.trace_map import LoadTraceMap
from sk_loadagent.models.trace_summary import Operation, TraceSummary
from sk_loadagent.publish import paths
from sk_loadagent.publish.badge import write_badge
from sk_loadagent.publish.flamegraph import write_cpu_flamegraph, write_flamegraph
from sk_loadagent.publish.score_log import score_log_lines, write_score_log
from sk_loadagent.publish.text import alert_reason, suggested_actions, tile_summary
from sk_loadagent.publish.tiles import (
    badge_color,
    badge_summary,
    hover_details,
    score_delta_vs_baseline,
    tile_color,
)


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def _tests(suite: PerfMetrics) -> list[PerfMetrics]:
    return suite.tests or [suite]


def trace_map(suite: PerfMetrics) -> LoadTraceMap:
    entries: list[dict[str, Any]] = []
    for t in _tests(suite):
        entries.append(
            {
                "endpoint": t.endpoint,
                "testType": t.test_type,
                "latencyP95": t.latency.p95 if t.latency else None,
                "errorRate": t.error_rate,
                "rps": t.rps,
                "status": t.status,
                "performanceScore": t.performance_score,
                "retryAttempt": t.retry_attempt or None,
                "retry": t.retry,
            }
        )
        entries += [_step_entry(t, step) for step in t.steps or []]
    return LoadTraceMap.model_validate(
        {
            "traceId": suite.trace_id,
            "editionId": suite.edition_id,
            "moduleId": suite.module_id,
            "tests": entries,
        }
    )


def _step_entry(test: PerfMetrics, step: StepMetrics) -> dict[str, Any]:
    """A flow step's own entry: its request, figures and its flow's status."""
    method, _, path = step.target.partition(" ")
    http = bool(path) and path.startswith("/")
    return {
        "endpoint": path if http else step.target,
        "method": method if http else None,
        "testType": test.test_type,
        "flow": test.test_name,
        "step": step.name,
        "latencyP50": step.latency.p50 if step.latency else None,
        "latencyP95": step.latency.p95 if step.latency else None,
        "latencyP99": step.latency.p99 if step.latency else None,
        "errorRate": step.error_rate,
        "rps": step.rps,
        "requests": step.requests,
        "status": test.status,
    }


def _regression(suite: PerfMetrics) -> bool:
    """A test's own verdict (a pass → degraded run, a score drop) or a confirmed p95 regression."""
    return any(
        bool(t.regression) or (t.baseline_comparison is not None and bool(t.baseline_comparison.regressed))
        for t in _tests(suite)
    )


def _retried(suite: PerfMetrics) -> PerfMetrics | None:
    """The test whose retry the tile reports: the decisive test if it was retried, else the most retried."""
    if suite.retry is not None:
        return suite
    retried = [t for t in _tests(suite) if t.retry is not None]
    return max(retried, key=lambda t: t.retry.retry_attempt if t.retry else 0, default=None)


def _status_score(status: str | None, score: float | None) -> str:
    return (status or "unknown") + (f" {score:.2f}" if score is not None else "")


def retry_explanation(test: PerfMetrics) -> str | None:
    """Cycle 18 "auto-tuning explanation": why the test was retried, how, and how it ended."""
    retry = test.retry
    if retry is None:
        return None
    why = retry.reason or (f"{retry.strategy} retry" if retry.strategy else "retry")
    change = (
        f"{_status_score(retry.original_status, retry.original_score)} → "
        f"{_status_score(test.status, test.performance_score)}"
    )
    ending = {
        "recovered": "recovered after retry",
        "escalated": "escalated for review",
        "unchanged": "unchanged after retry",
    }
    return f"{why}. {change}: {ending.get(retry.outcome or '', 'pending')}."


def _exploratory(suite: PerfMetrics) -> bool:
    return all(
        t.baseline_comparison is None or bool(t.baseline_comparison.exploratory) for t in _tests(suite)
    )


def tile_actions(suite: PerfMetrics, *, report: bool) -> list[str]:
    """Only what exists: the report when one is written, the trace (trace-summary.json) when the service's
    spans arrived, a throttled retry (Studio ``retryWith``) of a failing run, the baseline comparison of a
    regression, and an annotation."""
    actions = ["view-report"] if report else []
    if any(t.trace_summary is not None and t.trace_summary.traces_with_spans for t in _tests(suite)):
        actions.append("view-trace")
    if suite.status in ("degraded", "fail"):
        actions.append("retry-with-throttle")
    if _regression(suite):
        actions.append("compare-baseline")
    actions.append("annotate")
    return actions


def preview(suite: PerfMetrics, *, report: bool = False) -> PerformancePreview:
    """The Studio tile of the suite (its decisive test); ``report``: a report.html is written beside it."""
    retried = _retried(suite)
    retry = retried.retry if retried is not None else None
    regression = _regression(suite)
    return PerformancePreview.model_validate(
        {
            "traceId": suite.trace_id,
            "editionId": suite.edition_id,
            "moduleId": suite.module_id,
            "testType": suite.test_type,
            "performanceScore": suite.performance_score,
            "status": suite.status,
            "regression": regression,
            "exploratory": _exploratory(suite),
            "retryAttempt": max((t.retry_attempt or 0) for t in _tests(suite)),
            "tileSummary": tile_summary(suite),
            "tags": [v for v in (suite.module_id, suite.edition_id, suite.test_type) if v],
            "actions": tile_actions(suite, report=report),
            "tileColor": tile_color(suite.status),
            "badge": _badge(retry.outcome if retry else None),
            "badgeColor": badge_color(suite.status),
            "scoreDeltaVsBaseline": score_delta_vs_baseline(suite),
            "hoverDetails": hover_details(suite),
            "badgeSummary": badge_summary(suite, regression=regression),
            "previousStatus": retry.original_status if retry else None,
            "previousScore": retry.original_score if retry else None,
            "retryExplanation": retry_explanation(retried) if retried is not None else None,
            "excludedFromScore": suite.excluded_from_score,
        }
    )


def _badge(outcome: str | None) -> str | None:
    return {"recovered": "Recovered after retry", "escalated": "Escalated for review"}.get(outcome or "")


def needs_alert(test: PerfMetrics) -> bool:
    comparison = test.baseline_comparison
    return test.status in ("degraded", "fail") or (comparison is not None and bool(comparison.regressed))


def _trigger(worst: PerfMetrics, regressed: bool) -> str:
    if worst.infrastructure_failure:
        return "infrastructure-failure"
    return "performance-regression" if regressed else "threshold-breach"


def alert(suite: PerfMetrics) -> RegressionAlert | None:
    """regression-alert.yaml: only when a counted test regressed, degraded or failed."""
    flagged = [t for t in _tests(suite) if needs_alert(t) and not t.excluded_from_gate]
    if not flagged:
        return None
    worst = min(flagged, key=lambda t: t.performance_score if t.performance_score is not None else 1.0)
    regressed = any(t.baseline_comparison is not None and t.baseline_comparison.regressed for t in flagged)
    escalated = any(t.retry is not None and t.retry.outcome == "escalated" for t in flagged)
    return RegressionAlert.model_validate(
        {
            "triggeredBy": _trigger(worst, regressed),
            "reason": alert_reason(worst),
            "traceId": suite.trace_id,
            "editionId": suite.edition_id,
            "moduleId": suite.module_id,
            "testType": worst.test_type,
            "status": worst.status,
            "performanceScore": worst.performance_score,
            "retryAttempt": max((t.retry_attempt or 0) for t in flagged),
            "actionRequired": True,
            "escalated": escalated,
            "tests": [
                {
                    "endpoint": t.endpoint,
                    "testType": t.test_type,
                    "status": t.status,
                    "reason": alert_reason(t),
                }
                for t in flagged
            ],
            "suggestedActions": suggested_actions(worst),
            "newBottleneck": _new_bottleneck(flagged),
        }
    )


def _new_bottleneck(tests: list[PerfMetrics]) -> dict[str, Any] | None:
    """The first flagged test's new bottleneck span whose self time regressed (``spans.span_anomaly``)."""
    for test in tests:
        summary = test.trace_summary
        if span_anomaly(summary) is None or summary is None or summary.bottleneck is None:
            continue
        b = summary.bottleneck
        op = next(o for o in summary.operations or [] if (o.service, o.name) == (b.service, b.name))
        return {
            "service": b.service,
            "span": b.name,
            "selfDeltaVsBaseline": op.self_delta_vs_baseline,
            "selfP95Ms": op.self_p95_ms,
            "baselineSelfP95Ms": op.baseline_self_p95_ms,
            "previousBottleneck": b.baseline_bottleneck,
        }
    return None


def trace_summary(suite: PerfMetrics) -> TraceSummary | None:
    """trace-summary.json: the decisive test's summary (the first with one), and every test's when several
    tests have one; self-time histograms stay in perf-metrics and memory."""
    summaries = [
        t.trace_summary.model_copy(update={"operations": _readable(t.trace_summary.operations)})
        for t in _tests(suite)
        if t.trace_summary is not None
    ]
    if not summaries:
        return None
    decisive = next((s for s in summaries if s.test_name == suite.test_name), summaries[0])
    if len(summaries) == 1:
        return decisive
    return decisive.model_copy(update={"tests": summaries})


def _readable(operations: list[Operation] | None) -> list[Operation] | None:
    if operations is None:
        return None
    return [op.model_copy(update={"self_histogram": None}) for op in operations]


def write_artifacts(
    suite: PerfMetrics,
    out_dir: Path,
    *,
    steps: list[dict[str, Any]],
    attempts: list[dict[str, Any]],
    report: bool = False,
) -> dict[str, Path]:
    """Write every artifact; a stale regression-alert.yaml from an earlier run there is removed.
    ``report``: the caller writes report.html too (the preview's ``view-report`` action)."""
    written: dict[str, Path] = {}
    metrics_doc = suite.to_wire()
    written["perfMetrics"] = write_atomic(out_dir / paths.PERF_METRICS, dump_json(metrics_doc))
    written["loadTraceMap"] = write_atomic(out_dir / paths.TRACE_MAP, dump_yaml(trace_map(suite).to_wire()))
    written["preview"] = write_atomic(
        out_dir / paths.PREVIEW, dump_json(preview(suite, report=report).to_wire())
    )
    written["scoreLog"] = write_score_log(out_dir, suite, steps, attempts)
    edition_copy = paths.edition_metrics_path(out_dir, suite.edition_id, suite.module_id)
    written["editionMetrics"] = write_atomic(edition_copy, dump_json(metrics_doc))
    written["badge"] = write_badge(out_dir, suite)
    spans = trace_summary(suite)
    spans_path, flame_path = out_dir / paths.TRACE_SUMMARY, out_dir / paths.FLAMEGRAPH
    flame = None
    if spans is not None:
        written["traceSummary"] = write_atomic(spans_path, dump_json(spans.to_wire()))
        flame = write_flamegraph(flame_path, spans)
    if flame is not None:
        written["flamegraph"] = flame
    profiled = next((t for t in _tests(suite) if t.cpu_profile), None)
    cpu_path = out_dir / paths.CPU_FLAMEGRAPH
    cpu = write_cpu_flamegraph(cpu_path, profiled.test_name, profiled.cpu_profile) if profiled else None
    if cpu is not None:
        written["cpuFlamegraph"] = cpu
    for stale, kept in ((spans_path, spans), (flame_path, flame), (cpu_path, cpu)):
        if kept is None:
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    found = alert(suite)
    alert_path = out_dir / paths.ALERT
    edition_alert = paths.edition_alert_path(out_dir, suite.edition_id, suite.module_id)
    if found is not None:
        text = dump_yaml(found.to_wire())
        written["regressionAlert"] = write_atomic(alert_path, text)
        written["editionAlert"] = write_atomic(edition_alert, text)
    else:
        for stale in (alert_path, edition_alert):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
    return written


__all__ = ["score_log_lines", "trace_summary", "write_artifacts"]
