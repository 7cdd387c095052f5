"""Results out: the run's /metrics in the Prometheus format while it runs, and its performanceScore, p95 and
regressionDelta sent as OTLP metrics after it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from sk_loadagent.engine import Progress
from sk_loadagent.models.metrics import BaselineComparison, LatencySummary, PerfMetrics
from sk_loadagent.observability import LiveMetrics, export_results
from sk_loadagent.observability import _live as live_module


def test_the_runs_metrics_are_served_while_it_runs() -> None:
    live = LiveMetrics("127.0.0.1", 0)
    try:
        snapshot = Progress(
            elapsed=3.0,
            remaining=7.0,
            phase="steady",
            rps=99.5,
            p95_ms=34.0,
            errors=2,
            requests=300,
            in_flight=4,
            late_starts=0,
        )
        live.update("checkout-load", snapshot)
        text = httpx.get(live.url).text
    finally:
        live.stop()
    assert 'sk_loadagent_rps{test="checkout-load"} 99.5' in text
    assert 'sk_loadagent_latency_p95_seconds{test="checkout-load"} 0.034' in text
    assert 'sk_loadagent_errors{test="checkout-load"} 2.0' in text
    assert 'sk_loadagent_in_flight{test="checkout-load"} 4.0' in text


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self) -> None:
        type(self).received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("C", (_Collector,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _suite() -> PerfMetrics:
    return PerfMetrics(
        trace_id="proj-888-checkout",
        module_id="CheckoutService",
        test_type="load",
        endpoint="/checkout/submit",
        status="degraded",
        performance_score=0.62,
        latency=LatencySummary(p95=131.0),
        baseline_comparison=BaselineComparison(p95_latency_baseline=100.0, p95_current=131.0),
    )


def test_the_results_go_out_as_otlp_metrics(collector: tuple[str, list[bytes]]) -> None:
    url, received = collector
    assert export_results(url, _suite()) is None
    values = {}
    for body in received:
        request = ExportMetricsServiceRequest.FromString(body)
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    point = metric.gauge.data_points[0]
                    attributes = {a.key: a.value.string_value for a in point.attributes}
                    values[metric.name] = (point.as_double, attributes["moduleId"], attributes["status"])
    assert values == {
        "sk_loadagent.performance_score": (0.62, "CheckoutService", "degraded"),
        "sk_loadagent.latency.p95": (131.0, "CheckoutService", "degraded"),
        "sk_loadagent.regression_delta": (pytest.approx(0.31), "CheckoutService", "degraded"),
    }


def test_a_failed_export_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_module, "EXPORT_TIMEOUT_S", 1.0)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert (
        export_results(endpoint, _suite())
        == f"exportMetrics {endpoint}: the OTLP export of the run's results failed"
    )
