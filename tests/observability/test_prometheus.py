"""Prometheus scrapes: the sample service's real /metrics gives CPU, memory, GC and queue depth; a failing or
garbage endpoint leaves the resources unmeasured with a warning; a scraped target is scored on what it
measured."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest

from sk_loadagent.analysis._resources import gc_and_queue, resource_usage
from sk_loadagent.observability import PrometheusScraper, ScrapedMetrics
from sk_loadagent.sample_service import SampleService


class _Garbage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>not metrics</html>\n" if self.path == "/metrics" else b""
        self.send_response(200 if self.path == "/metrics" else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def garbage_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_sample_services_metrics_are_scraped() -> None:
    with SampleService(release="stable", latency_ms=1) as service:
        scraper = PrometheusScraper(f"{service.url}/metrics", 0.1, {"queue": "sample_queue_depth"}).start()
        with httpx.Client() as client:
            for _ in range(50):
                client.post(f"{service.url}/checkout/submit", json={})
        time.sleep(0.4)
        scraped = scraper.stop()
    assert scraped.failures == 0
    assert len(scraped.t) >= 3
    assert all(scraped.measured(r) for r in ("cpu", "memory", "gc", "queue"))
    resources = scraped.resources()
    assert resources is not None
    usage = resource_usage(resources, scraped.t[0], scraped.t[-1] + 1)
    assert usage.pid is None
    assert usage.memory_peak_mb is not None
    assert 5 < usage.memory_peak_mb < 2000
    assert usage.cpu_avg_pct is not None
    assert usage.cpu_avg_pct >= 0
    figures = gc_and_queue(
        np.asarray(scraped.t),
        np.asarray(scraped.values["gc"]),
        np.asarray(scraped.values["queue"]),
        scraped.t[0],
        scraped.t[-1],
    )
    assert figures["queue_depth_peak"] == 0
    assert figures["gc_activity_count"] >= 0


def test_a_garbage_or_failing_endpoint_leaves_resources_unmeasured(garbage_url: str) -> None:
    for path, reason in (("/metrics", "ValueError"), ("/broken", "HTTPStatusError")):
        scraper = PrometheusScraper(f"{garbage_url}{path}", 0.05).start()
        time.sleep(0.2)
        scraped = scraper.stop()
        assert scraped.t == []
        assert scraped.resources() is None
        (warning,) = scraped.warnings
        assert warning.startswith(
            f"Prometheus {garbage_url}{path}: none of {scraped.scrapes} scrapes succeeded"
        )
        assert reason in warning
        assert warning.endswith("the target's resources were not measured")


def test_counters_become_rates_and_a_reset_is_skipped() -> None:
    scraped = ScrapedMetrics(
        url="u",
        t=[0.0, 1.0, 2.0, 3.0],
        values={
            "cpu": [1.0, 1.5, 0.1, 0.6],
            "memory": [2**20] * 4,
            "gc": [0, 10, 20, 30],
            "queue": [np.nan] * 4,
        },
    )
    rates = scraped.rates("cpu")
    assert rates[0] == pytest.approx(0.5)
    assert np.isnan(rates[1])
    assert not scraped.measured("queue")
    resources = scraped.resources()
    assert resources is not None
    assert resources.rss_mb.tolist() == [1.0, 1.0, 1.0]
    assert gc_and_queue(
        np.asarray(scraped.t), np.asarray(scraped.values["gc"]), np.asarray(scraped.values["queue"]), 0, 3
    ) == {
        "gc_activity_count": 30,
        "gc_collections_per_sec": 10.0,
    }
