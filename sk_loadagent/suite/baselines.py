"""What memory knows about a test's series: its history, its baseline (pooled), and its seed baselines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sk_loadagent.analysis import (
    ComparisonInput,
    HistoryEntry,
    baseline_pool,
    comparison_input,
    pool_inputs,
)
from sk_loadagent.memory import MemoryStore, RunRecord, SeriesKey
from sk_loadagent.memory.profile import load_profile_key
from sk_loadagent.models.baseline import PerfBaseline
from sk_loadagent.models.metrics import PerfMetrics

_UNDATED = datetime.min.replace(tzinfo=UTC)


def load_profile(test: PerfMetrics) -> str | None:
    """The test's load profile key: the one it carries, else the one its metrics describe."""
    return test.load_profile or load_profile_key(test)


def series_key(test: PerfMetrics) -> SeriesKey:
    return SeriesKey(
        edition_id=test.edition_id,
        module_id=test.module_id,
        test_type=test.test_type,
        endpoint=test.endpoint,
        load_profile=load_profile(test),
    )


def history_entry(record: RunRecord) -> HistoryEntry:
    return HistoryEntry(
        run_id=record.run_id or "",
        trace_id=record.trace_id,
        created_at=record.created_at or _UNDATED,
        status=record.status,
        score=record.performance_score,
        p95=record.p95_latency_ms,
        regressed=record.regressed,
        is_baseline=record.is_baseline,
        baseline_obsolete=record.baseline_obsolete,
        validated=record.validated,
        infrastructure_failure=record.infrastructure_failure,
    )


@dataclass
class ScopeHistory:
    """The stored runs of one series key, oldest first, as records and as analysis entries."""

    key: SeriesKey
    records: list[RunRecord]

    @property
    def entries(self) -> list[HistoryEntry]:
        return [history_entry(r) for r in self.records]

    def baseline_input(self) -> ComparisonInput | None:
        """The baseline pooled with the passes after it that matched it (cuts run-to-run noise by √k)."""
        pool = baseline_pool(self.entries)
        if not pool:
            return None
        by_id = {r.run_id: r for r in self.records}
        inputs = []
        for entry in pool:
            record = by_id[entry.run_id]
            metrics = PerfMetrics.model_validate(record.metrics)
            inputs.append(comparison_input(metrics, record.histogram(), run_id=record.run_id))
        return pool_inputs(inputs)


def load_history(store: MemoryStore | None, key: SeriesKey) -> ScopeHistory:
    return ScopeHistory(key, store.series(key) if store is not None else [])


def seed_input(seeds: list[PerfBaseline], test: PerfMetrics) -> ComparisonInput | None:
    """A baseline from perf-baseline.memory.json when memory has none: the last matching passing entry.

    It carries figures but no histogram, so the comparison can only be made on the point values.
    """
    matching = [
        s
        for s in seeds
        if (s.edition_id in (None, test.edition_id))
        and (s.module_id in (None, test.module_id))
        and (s.test_type in (None, test.test_type))
        and (s.endpoint in (None, test.endpoint))
        and s.status in (None, "pass")
    ]
    if not matching:
        return None
    seed = matching[-1]
    p95 = seed.p95()
    return ComparisonInput(
        histogram=None,
        requests=0,
        errors=0,
        p95=p95,
        p99=seed.latency.p99 if seed.latency is not None else None,
        rps=seed.rps,
        error_rate=seed.error_rate,
        score=seed.performance_score,
        status=seed.status,
        trace_id=seed.trace_id,
        run_id=None,
    )
