"""The run's own figures for dashboards (cycle 10's "metrics sent to dashboards").

During a run, ``LiveMetrics`` serves ``/metrics`` in the Prometheus format on a loopback port (the config's
``serveMetrics``), from the progress snapshots the engine already makes each second: rps, p95, errors and
in-flight requests per test. After a run, ``export_results`` sends its performanceScore, p95 and
regressionDelta per test as OTLP metrics to the config's ``exportMetrics`` endpoint, once.
"""

from __future__ import annotations

import logging
from typing import Any

from sk_loadagent.engine import Progress
from sk_loadagent.extras import require
from sk_loadagent.models.metrics import PerfMetrics

log = logging.getLogger(__name__)
EXPORT_TIMEOUT_S = 5.0


class LiveMetrics:
    """``/metrics`` of the run on ``host:port`` (port 0: a free one) until ``stop``."""

    def __init__(self, host: str, port: int) -> None:
        prom = require("prometheus_client", "observability", "serveMetrics")
        self.registry = prom.CollectorRegistry()
        labels = ["test"]
        self._rps = prom.Gauge(
            "sk_loadagent_rps", "responses per second, last interval", labels, registry=self.registry
        )
        self._p95 = prom.Gauge(
            "sk_loadagent_latency_p95_seconds",
            "p95 latency of the last interval",
            labels,
            registry=self.registry,
        )
        self._errors = prom.Gauge(
            "sk_loadagent_errors", "failed requests so far", labels, registry=self.registry
        )
        self._requests = prom.Gauge(
            "sk_loadagent_requests", "requests so far", labels, registry=self.registry
        )
        self._in_flight = prom.Gauge(
            "sk_loadagent_in_flight", "requests in flight", labels, registry=self.registry
        )
        self._server, self._thread = prom.start_http_server(port, addr=host, registry=self.registry)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/metrics"

    def update(self, test: str, snapshot: Progress) -> None:
        self._rps.labels(test).set(snapshot.rps)
        if snapshot.p95_ms is not None:
            self._p95.labels(test).set(snapshot.p95_ms / 1000.0)
        self._errors.labels(test).set(snapshot.errors)
        self._requests.labels(test).set(snapshot.requests)
        self._in_flight.labels(test).set(snapshot.in_flight)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def export_results(endpoint: str, suite: PerfMetrics) -> str | None:
    """Send each test's performanceScore, p95 (ms) and regressionDelta (p95 change vs the baseline, a
    ratio) as OTLP/HTTP gauges; None when sent, else why not (a warning: the run's result stands)."""
    require("opentelemetry.exporter.otlp.proto.http.metric_exporter", "observability", "exportMetrics")
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    exporter = OTLPMetricExporter(endpoint=f"{endpoint.rstrip('/')}/v1/metrics", timeout=EXPORT_TIMEOUT_S)
    results: list[Any] = []
    original = exporter.export

    def export(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        results.append(result)
        return result

    exporter.export = export  # type: ignore[method-assign]
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": "sk-loadagent"})
    )
    meter = provider.get_meter("sk_loadagent")
    score = meter.create_gauge("sk_loadagent.performance_score", description="performanceScore of the test")
    p95 = meter.create_gauge("sk_loadagent.latency.p95", unit="ms", description="p95 latency of the test")
    delta = meter.create_gauge(
        "sk_loadagent.regression_delta", description="p95 change against the baseline (0.31 = +31 %)"
    )
    for test in suite.tests or [suite]:
        attributes = {
            k: v
            for k, v in (
                ("traceId", test.trace_id),
                ("moduleId", test.module_id),
                ("editionId", test.edition_id),
                ("testType", test.test_type),
                ("endpoint", test.endpoint),
                ("status", test.status),
            )
            if v is not None
        }
        if test.performance_score is not None:
            score.set(test.performance_score, attributes)
        if test.latency is not None and test.latency.p95 is not None:
            p95.set(test.latency.p95, attributes)
        c = test.baseline_comparison
        if c is not None and c.p95_latency_baseline and c.p95_current is not None:
            delta.set(c.p95_current / c.p95_latency_baseline - 1.0, attributes)
    provider.shutdown()  # the reader's last collection: one export of every gauge
    if results and all(r == MetricExportResult.SUCCESS for r in results):
        return None
    return f"exportMetrics {endpoint}: the OTLP export of the run's results failed"
