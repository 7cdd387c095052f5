"""Builders shared by tests that judge, retry or publish a single test's perf-metrics."""

from __future__ import annotations

from typing import Any

from sk_loadagent.models.metrics import LatencySummary, PerfMetrics


def judged_test(status: str, score: float, **fields: Any) -> PerfMetrics:
    """A judged CheckoutService load test at 100 rps (p50/p95/p99 40/90/120 ms, 60 s); ``fields`` override."""
    values: dict[str, Any] = {
        "trace_id": "proj-945",
        "module_id": "CheckoutService",
        "edition_id": "vetclinic",
        "test_type": "load",
        "test_index": 0,
        "endpoint": "/checkout/submit",
        "status": status,
        "performance_score": score,
        "latency": LatencySummary(p50=40, p95=90, p99=120),
        "rps": 100.0,
        "target_rps": 100.0,
        "error_rate": 0.0,
        "test_duration": 60.0,
        "retry_attempt": 0,
    }
    values.update(fields)
    return PerfMetrics(**values)
