"""Builders for the suite-level judgement tests: measured tests with known latency, stored history, and the
compare → score → evaluate → push chain the skills run, minus Semantic Kernel.

Latencies are lognormal around a chosen median (ms), seeded, and carried the way a real run carries them:
p50/p95/p99 from the latency histogram, the sparse histogram itself, and per-second rps windows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from local_services import drop_schema, new_schema, postgres_server, schema_url

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.memory import MemoryStore, RunRecord, SeriesKey, open_store
from sk_loadagent.models.metrics import LatencySummary, PerfMetrics, TimelinePoint
from sk_loadagent.suite.judge import compare_test, evaluate_test, score_test
from sk_loadagent.suite.remember import push_test
from sk_loadagent.suite.sources import Sources

MODULE = "CheckoutService"
EDITION = "vetclinic"
ENDPOINT = "/checkout/submit"
# The series of ``measured`` runs: 100 rps for 10 s (they carry no phases, so the key is rate and duration).
PROFILE = "open 100 rps; under 15 s"
KEY = SeriesKey(
    edition_id=EDITION, module_id=MODULE, test_type="load", endpoint=ENDPOINT, load_profile=PROFILE
)
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def latencies_ms(median: float, n: int = 3000, *, seed: int, sigma: float = 0.25) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(median), sigma, n)


def from_latencies(
    values_ms: np.ndarray,
    *,
    seed: int = 0,
    rps: float = 100.0,
    windows: int = 10,
    error_rate: float = 0.0,
    edition: str = EDITION,
    test_type: str = "load",
    trace_id: str | None = None,
    **fields: Any,
) -> PerfMetrics:
    """One test's perf-metrics as the collector writes them (no score, status or comparison yet)."""
    histogram = LatencyHistogram.from_values(values_ms / 1000.0)
    p50, p95, p99 = (round(float(q or 0.0) * 1000.0, 3) for q in histogram.quantiles([0.5, 0.95, 0.99]))
    requests = int(values_ms.size)
    failed = round(error_rate * requests)
    # Per-window rps with a small, seeded wobble: a real run is never perfectly flat.
    wobble = np.random.default_rng(seed + 10_000).normal(0.0, 0.02, windows)
    timeline = [TimelinePoint(t=float(i), rps=round(rps * (1 + w), 3)) for i, w in enumerate(wobble)]
    values: dict[str, Any] = {
        "trace_id": trace_id or f"proj-{seed}",
        "module_id": MODULE,
        "edition_id": edition,
        "test_type": test_type,
        "test_index": 0,
        "endpoint": ENDPOINT,
        "latency": LatencySummary(p50=p50, p95=p95, p99=p99),
        "rps": rps,
        "target_rps": rps,
        "requests": requests,
        "error_rate": failed / requests,
        "errors": {"http_500": failed} if failed else {},
        "latency_histogram": histogram.to_sparse(),
        "timeline": timeline,
        "test_duration": float(windows),
    }
    values.update(fields)
    return PerfMetrics(**values)


def measured(median: float, *, seed: int, n: int = 3000, sigma: float = 0.25, **fields: Any) -> PerfMetrics:
    return from_latencies(latencies_ms(median, n, seed=seed, sigma=sigma), seed=seed, **fields)


def judged(test: PerfMetrics, store: MemoryStore | None, sources: Sources) -> PerfMetrics:
    """RegressionComparer → PerformanceScorer → ThresholdEvaluator on one test."""
    compared = compare_test(test, None, store, sources) if store is not None else test
    return evaluate_test(score_test(compared, sources, None), sources)


def seed_run(
    store: MemoryStore,
    test: PerfMetrics,
    *,
    at: datetime,
    status: str = "pass",
    score: float = 1.0,
    is_baseline: bool = False,
    regressed: bool = False,
    validated: bool = True,
) -> RunRecord:
    """A run stored as if judged earlier (status, score and flags as given), at time ``at``."""
    judged_test = test.model_copy(update={"status": status, "performance_score": score})
    record = RunRecord.from_metrics(judged_test, is_baseline=is_baseline, validated=validated)
    return store.push(record.model_copy(update={"created_at": at, "regressed": regressed}))


class Kit:
    """The builders above, for tests: a conftest module cannot be imported under --import-mode=importlib."""

    MODULE = MODULE
    EDITION = EDITION
    ENDPOINT = ENDPOINT
    KEY = KEY
    PROFILE = PROFILE
    T0 = T0
    latencies_ms = staticmethod(latencies_ms)
    from_latencies = staticmethod(from_latencies)
    measured = staticmethod(measured)
    judged = staticmethod(judged)
    seed_run = staticmethod(seed_run)
    hours = staticmethod(lambda n: timedelta(hours=n))


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    with open_store(tmp_path / "memory.sqlite") as opened:
        yield opened


@pytest.fixture
def judge_and_push(store: MemoryStore) -> Callable[..., tuple[PerfMetrics, dict[str, Any]]]:
    """Judge a test against the store (default sources) and push it, as one run of the chain does."""

    def run(test: PerfMetrics, sources: Sources | None = None) -> tuple[PerfMetrics, dict[str, Any]]:
        verdict = judged(test, store, sources or Sources())
        return verdict, push_test(verdict, store)

    return run


def _postgres_schema_url(request: pytest.FixtureRequest) -> str:
    """A URL to a fresh schema on the local server (dropped after the test); without the server a skip, or
    a failure under CI=true."""
    server = postgres_server()
    schema = new_schema("skla_suite")
    request.addfinalizer(lambda: drop_schema(server, schema))
    return schema_url(server, schema)


@pytest.fixture(params=["json", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryStore]:
    """Each kind of memory store, for the rules whose outcome depends on the store's baseline flags."""
    if request.param == "json":
        url = str(tmp_path / "perf-metrics.memory.json")
    elif request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'memory.sqlite'}"
    else:
        url = _postgres_schema_url(request)
    with open_store(url) as opened:
        yield opened
