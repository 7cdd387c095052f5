"""``make bench-dashboard``: how fast the dashboard answers over a store of 10,000 runs.

Issue 12's target: every page answers in under 200 ms over 10,000 stored runs. The script writes ``--runs``
runs (default 10,000) through the store API into a SQLite store in a temporary folder: ``--modules`` modules ×
2 editions × 4 test types, one series each, every run a realistic perf-metrics (a 60-second timeline, a
latency histogram, a baseline comparison), one a day, with a p95 step half way and a few retries. It then
serves the dashboard with uvicorn on 127.0.0.1 (as ``sk-loadagent dashboard`` does) and times ``--repeat``
HTTP requests to each page over loopback: the front page, a filtered front page, its JSON, a series page
(trend and change points), and the latest and oldest run's report.

For scale it times, in the same run, a peer: reading every stored run with its perf-metrics (what a page
that did not window its queries would read first, ``store.find()``), and prints each page against it. It
always exits 0: a missed target is reported, not raised.

    PYTHONPATH=. python benchmarks/dashboard_bench.py [--runs 10000 --modules 5 --repeat 20]
"""

from __future__ import annotations

import argparse
import math
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from sk_loadagent.dashboard import TREND_RUNS, create_app, series_token
from sk_loadagent.dashboard._serve import bind, server, url_of
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.memory import MemoryStore, RunRecord, open_store
from sk_loadagent.models.metrics import PerfMetrics

LIMIT_MS = 200.0
EDITIONS = ("vetclinic", "vetclinic-premium")
TEST_TYPES = ("load", "spike", "soak", "stress")
START = datetime(2026, 1, 1, tzinfo=UTC)


def template(module: str, edition: str, test_type: str, p95: float) -> PerfMetrics:
    """One run's perf-metrics as a judged run writes it, with a 60-second timeline and a histogram."""
    rng = np.random.default_rng(abs(hash((module, edition, test_type))) % 2**32)
    timeline = [
        {
            "t": float(t),
            "rps": 100.0,
            "p50": p95 * 0.45,
            "p95": p95,
            "p99": p95 * 1.3,
            "errors": 0,
            "inFlight": 3,
        }
        for t in range(60)
    ]
    return PerfMetrics.model_validate(
        {
            "traceId": "bench-dashboard",
            "moduleId": module,
            "editionId": edition,
            "testIndex": 0,
            "testName": f"{module.lower()}-{test_type}",
            "testType": test_type,
            "endpoint": "/checkout/submit",
            "performanceScore": 0.95,
            "status": "pass",
            "latency": {"p50": p95 * 0.45, "p95": p95, "p99": p95 * 1.3},
            "rps": 100.0,
            "errorRate": 0.0,
            "requests": 6000,
            "testDuration": "60s",
            "timeline": timeline,
            "latencyHistogram": LatencyHistogram.from_values(
                rng.lognormal(math.log(p95 / 2000), 0.35, 6000)
            ).to_sparse(),
            "thresholds": [{"metric": "latencyP95", "limit": p95 * 2, "source": "bench"}],
            "baselineComparison": {"deltaLatencyP95": "+2%", "regressed": False, "exploratory": False},
            "reasons": ["score 0.95 is in the pass band (≥ 0.90)"],
        }
    )


def series_runs(module: str, edition: str, test_type: str, count: int) -> Iterator[RunRecord]:
    """``count`` runs of one series, one a day, the p95 a quarter higher from the middle run on."""
    p95 = 20.0 + 5 * TEST_TYPES.index(test_type)
    record = RunRecord.from_metrics(template(module, edition, test_type, p95))
    for i in range(count):
        level = p95 if i < count // 2 else p95 * 1.25
        yield record.model_copy(
            update={
                "run_id": f"{module}-{edition}-{test_type}-{i:05d}",
                "trace_id": f"build-{i + 1}",
                "created_at": START + timedelta(days=i),
                "p95_latency_ms": round(level * (1 + 0.02 * ((i * 7) % 5 - 2)), 3),
                "performance_score": 0.95 - 0.01 * (i % 3),
                "retry_attempt": 1 if i % 17 == 5 else 0,
                "is_baseline": i == 0,
            }
        )


def fill(store: MemoryStore, runs: int, modules: int) -> list[tuple[str, str, str]]:
    """``runs`` runs spread evenly over modules × editions × test types; returns the series."""
    scopes = [
        (f"Module{m:02d}Service", edition, kind)
        for m in range(modules)
        for edition in EDITIONS
        for kind in TEST_TYPES
    ]
    per_series = max(1, runs // len(scopes))
    for scope in scopes:
        for record in series_runs(*scope, per_series):
            store.push(record)
    return scopes


@contextmanager
def serving(url: str) -> Iterator[str]:
    """The dashboard over ``url`` on 127.0.0.1 in a thread, as the command serves it."""
    import asyncio

    sock: socket.socket = bind(None, 0)
    app = create_app(url)
    http = server(app, own_signals=False)
    thread = threading.Thread(target=lambda: asyncio.run(http.serve(sockets=[sock])), daemon=True)
    started = time.perf_counter()
    thread.start()
    while not http.started:
        time.sleep(0.01)
    took = (time.perf_counter() - started) * 1000
    print(f"dashboard started in {took:.0f} ms (it reads each series' latest run once)")
    try:
        yield url_of(sock)
    finally:
        http.should_exit = True
        thread.join(timeout=10)
        app.state.store.close()
        sock.close()


def timed(client: httpx.Client, url: str, repeat: int) -> tuple[float, list[float], int]:
    """Milliseconds of the first GET (nothing remembered yet) and of ``repeat`` more, and the page's size."""
    started = time.perf_counter()
    answer = client.get(url)
    answer.raise_for_status()
    first = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return first, times, len(answer.content)


def pages(store: MemoryStore, scopes: list[tuple[str, str, str]]) -> dict[str, str]:
    key = next(k for k in store.keys() if (k.module_id, k.edition_id, k.test_type) == scopes[0])  # noqa: SIM118
    runs = store.rows(key)
    module, edition, _ = scopes[0]
    series = f"series page ({len(runs)} runs, latest {min(len(runs), TREND_RUNS)} drawn)"
    return {
        "front page": "",
        "front page, one module and edition": f"?module={module}&edition={edition}",
        "front page JSON": "api/overview",
        series: f"series/{series_token(key)}",
        "latest run's report": f"runs/{runs[-1].run_id}",
        "oldest run's report": f"runs/{runs[0].run_id}",
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--modules", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sk-loadagent-dashboard-bench-") as scratch:
        path = Path(scratch) / "memory.sqlite"
        started = time.perf_counter()
        with open_store(path) as store:
            scopes = fill(store, args.runs, args.modules)
            stored = sum(len(store.rows(k)) for k in store.keys())  # noqa: SIM118 (a store, not a dict)
            print(
                f"stored {stored:,} runs in {len(scopes)} series through the store API in "
                f"{time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB SQLite)"
            )
            started = time.perf_counter()
            everything = store.find()
            peer_ms = (time.perf_counter() - started) * 1000
            print(
                f"peer: reading all {len(everything):,} runs with their perf-metrics (store.find): "
                f"{peer_ms:.0f} ms"
            )
            del everything
            targets = pages(store, scopes)
        with serving(str(path)) as base, httpx.Client(timeout=30) as client:
            print(
                f"{'page (GET over loopback)':<42} {'first':>8} {'median':>8} {'p95':>8} {'max':>8} "
                f"{'bytes':>9}  median vs peer"
            )
            for name, suffix in targets.items():
                first, times, size = timed(client, base + suffix, args.repeat)
                median = statistics.median(times)
                p95 = float(np.percentile(times, 95))
                results[name] = max(first, *times)
                print(
                    f"{name:<42} {first:6.1f}ms {median:6.1f}ms {p95:6.1f}ms {max(times):6.1f}ms {size:>9,}  "
                    f"{median / peer_ms:.4f}×"
                )
        slowest = max(results.values())
        verdict = "MET" if slowest < LIMIT_MS else "NOT MET"
        print(
            f"slowest answer, first or repeated, {slowest:.1f} ms over {stored:,} runs "
            f"(target < {LIMIT_MS:.0f} ms) → {verdict}"
        )
    return results


if __name__ == "__main__":
    main()
