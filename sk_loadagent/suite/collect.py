"""PerfMetricCollector's work: each run's samples and telemetry into perf-metrics with the run's scope."""

from __future__ import annotations

import numpy as np

from sk_loadagent.analysis import summarize
from sk_loadagent.analysis._resources import gc_and_queue
from sk_loadagent.analysis.spans import summarize_spans
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.secrets import mask_url
from sk_loadagent.suite.assemble import suite_metrics
from sk_loadagent.suite.execute import TestRun
from sk_loadagent.suite.execution_plan import ExecutionPlan


def collect_one(plan: ExecutionPlan, run: TestRun, *, retry_attempt: int) -> PerfMetrics:
    planned = plan.test(run.index)
    metrics = summarize(run.result, run.resources, test_type=planned.test_type)
    metrics.trace_id = plan.trace_id
    metrics.module_id = plan.module_id
    metrics.edition_id = plan.edition_id
    metrics.test_type = planned.test_type
    metrics.test_index = planned.index
    metrics.test_name = planned.label
    metrics.endpoint = planned.endpoint
    metrics.method = planned.method
    metrics.test_target = mask_url(planned.url)
    metrics.retry_attempt = retry_attempt
    metrics.excluded_from_gate = planned.exclude_from_gate or None
    if planned.notes:
        metrics.warnings = [*planned.notes, *(metrics.warnings or [])]
    if metrics.stress is not None and planned.test.rps is not None:
        metrics.stress.design_limit_rps = planned.test.rps
    if run.scraped is not None:
        _add_scraped(metrics, run)
    metrics.cpu_profile = run.cpu_profile
    if run.notes:
        metrics.warnings = [*(metrics.warnings or []), *run.notes]
    if run.spans is not None and plan.observability is not None:
        metrics.trace_summary = summarize_spans(
            run.spans.traces,
            run.result.traced,
            trace_id=plan.trace_id,
            bottleneck_limit=plan.observability.bottleneck_limit,
            test_name=planned.label,
            malformed=run.spans.malformed,
        )
    return metrics


def collect(plan: ExecutionPlan, runs: list[TestRun], *, retry_attempt: int = 0) -> PerfMetrics:
    """The suite perf-metrics of the runs (top level = the decisive test, ``tests`` = every run)."""
    return suite_metrics([collect_one(plan, run, retry_attempt=retry_attempt) for run in runs])


def _add_scraped(metrics: PerfMetrics, run: TestRun) -> None:
    """GC activity and queue depth from the scrapes (cycle 7), where the resources came from, and what the
    scrapes could not do."""
    scraped = run.scraped
    assert scraped is not None
    if metrics.test_start_time is not None and metrics.test_duration:
        start = metrics.test_start_time.timestamp()
        figures = gc_and_queue(
            np.asarray(scraped.t, dtype=np.float64),
            np.asarray(scraped.values["gc"], dtype=np.float64),
            np.asarray(scraped.values["queue"], dtype=np.float64),
            start,
            start + metrics.test_duration,
        )
        for name, value in figures.items():
            setattr(metrics, name, value)
    if metrics.resources is not None:
        local = run.resources is not None and run.resources.pid > 0
        metrics.resources.source = "psutil" if local else f"prometheus {scraped.url}"
    if scraped.warnings:
        metrics.warnings = [*(metrics.warnings or []), *scraped.warnings]
