"""A memory store shaped like a Studio's: two modules, two editions, load and spike tests, a dozen builds per
series with a p95 step (a change point), a regression, retries that recovered and one that escalated."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from report_builders import START, load_pass, spike_regressed

from sk_loadagent.memory import MemoryStore, RunRecord
from sk_loadagent.models.metrics import PerfMetrics

MODULES = ("CheckoutService", "NotificationService")
EDITIONS = ("vetclinic", "vetclinic-premium")
BUILDS = 12


def _test(template: PerfMetrics, module: str, edition: str, **wire: Any) -> PerfMetrics:
    data = template.to_wire()
    short = module.removesuffix("Service").lower()
    data.update(
        {"moduleId": module, "editionId": edition, "testName": f"{short}-{template.test_type}", **wire}
    )
    return PerfMetrics.model_validate(data)


def series_templates() -> list[PerfMetrics]:
    """The latest run of each series: every series passes but the premium checkout spike, which regressed."""
    latest = []
    for module in MODULES:
        for edition in EDITIONS:
            latest.append(_test(load_pass(), module, edition))
            spike = spike_regressed()
            if module == "CheckoutService" and edition == "vetclinic-premium":
                latest.append(_test(spike, module, edition))
            else:
                latest.append(
                    _test(
                        spike,
                        module,
                        edition,
                        status="pass",
                        performanceScore=0.93,
                        regression=False,
                        retry={**spike.retry.to_wire(), "outcome": "recovered"} if spike.retry else None,
                        baselineComparison={
                            **(spike.baseline_comparison.to_wire() if spike.baseline_comparison else {}),
                            "regressed": False,
                            "deltaLatencyP95": "+3%",
                        },
                    )
                )
    return latest


def build_records(template: PerfMetrics, builds: int, *, offset: int = 0) -> list[RunRecord]:
    """``builds`` runs of the template's series, one a day, the last being the template itself; p95 steps
    up by a quarter from the middle build on, or, for a regressed template, at its last build only."""
    latest = RunRecord.from_metrics(template)
    p95 = latest.p95_latency_ms or 10.0
    step = 1.35 if template.regression else 1.25
    step_at = builds - 1 if template.regression else builds // 2
    records = []
    for build in range(builds):
        last = build == builds - 1
        base = p95 / step if build < step_at else p95
        wobble = 1 + 0.01 * ((build * 7) % 5 - 2)
        retried = build % 5 == 3
        metrics = {name: value for name, value in latest.metrics.items() if name != "retry"}
        if retried:  # an earlier flaky run that passed on its retry
            metrics["retry"] = {"retryAttempt": 1, "originalStatus": "fail", "outcome": "recovered"}
        earlier: dict[str, Any] = {
            "status": "pass",
            "performance_score": 0.95 + 0.01 * (build % 3),
            "regressed": False,
            "retry_attempt": 1 if retried else 0,
            "metrics": metrics,
        }
        records.append(
            latest.model_copy(
                update={
                    "run_id": f"{latest.key.module_id}-{latest.key.edition_id}-{latest.key.test_type}-"
                    f"{offset + build:05d}",
                    "trace_id": f"build-{offset + build + 1}",
                    "created_at": START - timedelta(days=builds - 1 - build, minutes=-offset),
                    "p95_latency_ms": p95 if last else round(base * wobble, 3),
                    "is_baseline": build == 0,
                    **({} if last else earlier),
                }
            )
        )
    return records


def fill_store(store: MemoryStore, builds: int = BUILDS) -> list[PerfMetrics]:
    """Every series of ``series_templates`` with ``builds`` runs; returns the templates (latest runs)."""
    templates = series_templates()
    for template in templates:
        for record in build_records(template, builds):
            store.push(record)
    return templates
