"""Stores written by schema 3 open as schema 4: each run's span profile (the trace summary's self time per
operation and its bottleneck) is taken from its stored perf-metrics, and a run without spans keeps none."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sk_loadagent.analysis.spans import summarize_spans
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.measurements import SpanRecord
from sk_loadagent.memory import SCHEMA_VERSION, RunRecord, open_store
from sk_loadagent.models.metrics import LatencySummary, PerfMetrics


def _traced_metrics() -> PerfMetrics:
    traces = {}
    for i in range(20):
        trace = f"{i:032x}"
        traces[trace] = [
            SpanRecord(trace, "1" * 16, "", "checkout", "POST /checkout", 2, 0, 10_000_000),
            SpanRecord(trace, "2" * 16, "1" * 16, "checkout", "ChargeCard", 1, 1_000_000, 8_000_000),
        ]
    summary = summarize_spans(traces, [], trace_id="t", bottleneck_limit=0.5)
    return PerfMetrics(
        module_id="CheckoutService",
        test_type="load",
        endpoint="/checkout/submit",
        latency=LatencySummary(p95=12.0),
        status="pass",
        trace_summary=summary,
    )


def _downgrade(url: str, tmp_path: Path) -> None:
    """Make the store look as schema 3 wrote it: no span profile anywhere, version 3."""
    if url.endswith(".json"):
        document = json.loads(Path(url).read_text())
        for run in document["runs"]:
            run.pop("spanProfile", None)
        document["schemaVersion"] = 3
        Path(url).write_text(json.dumps(document))
        return
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url.removeprefix("sqlite://"))
        conn.execute("ALTER TABLE runs DROP COLUMN span_profile")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schemaVersion'")
        conn.commit()
        conn.close()
        return
    import psycopg

    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        schema = url.rsplit("schema=", 1)[1]
        conn.execute(f'ALTER TABLE "{schema}".sk_loadagent_runs DROP COLUMN span_profile')
        conn.execute(f"UPDATE \"{schema}\".sk_loadagent_meta SET value = '3' WHERE key = 'schemaVersion'")


def test_span_profiles_come_back_from_the_stored_metrics(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        traced = store.push(RunRecord.from_metrics(_traced_metrics()))
        plain = store.push(RunRecord.from_metrics(PerfMetrics(module_id="CheckoutService", status="pass")))
    assert traced.span_profile is not None
    profile = traced.span_profile
    _downgrade(store_url, tmp_path)
    with open_store(store_url) as store:
        again = store.get(str(traced.run_id))
        other = store.get(str(plain.run_id))
    assert again is not None
    assert other is not None
    assert again.span_profile == profile
    assert other.span_profile is None
    assert profile["bottleneck"] == {"service": "checkout", "name": "ChargeCard"}
    charge = next(op for op in profile["operations"] if op["name"] == "ChargeCard")
    assert LatencyHistogram.from_sparse(charge["selfHistogram"]).quantile(0.95) == pytest.approx(
        0.007, rel=0.02
    )
    assert SCHEMA_VERSION == 4
