"""``make bench-report``: how large report.html is for a long soak, and how long it takes to write.

Issue 12's target: the report of a 30-minute soak stays under 5 MB. The script runs a real soak test of
``--minutes`` (default 30) at ``--rps`` against the sample service on 127.0.0.1 through ``run_suite`` (real
engine, SQLite memory in a temporary folder), then stores ``--history`` earlier runs of the same series
(copies of the soak's record with their p95 moved by ±5 %, one a day) so the history chart is full, writes the
report again from the stored run and memory, and prints the sizes and the time the report took. It always
exits 0: a missed target is reported, not raised.

    PYTHONPATH=. python benchmarks/report_bench.py [--minutes 30 --rps 50 --history 99]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sk_loadagent.memory import RunRecord, open_store
from sk_loadagent.models.context import RunContext
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.planners.agent import SuiteRequest, run_suite
from sk_loadagent.publish.report import write_report
from sk_loadagent.sample_service import SampleService
from sk_loadagent.suite.outputs import report_inputs

LIMIT_BYTES = 5_000_000


def soak_plan(minutes: float, rps: float) -> dict[str, object]:
    return {
        "traceId": "bench-report-soak",
        "moduleId": "CheckoutService",
        "editionId": "vetclinic",
        "endpoint": "/checkout/submit",
        "method": "POST",
        "tests": [{"type": "soak", "name": "checkout-soak", "rps": rps, "duration": f"{minutes * 60:g}s"}],
    }


def earlier_runs(record: RunRecord, count: int, seed: int = 7) -> list[RunRecord]:
    """``count`` runs of the record's series before it, one a day, p95 within ±5 % of its own."""
    rng = random.Random(seed)
    created = record.created_at
    assert created is not None
    runs = []
    for day in range(count, 0, -1):
        factor = 1 + rng.uniform(-0.05, 0.05)
        p95 = record.p95_latency_ms * factor if record.p95_latency_ms is not None else None
        runs.append(
            record.model_copy(
                update={
                    "run_id": f"bench-earlier-{day:04d}",
                    "trace_id": f"bench-build-{count - day + 1}",
                    "created_at": created - timedelta(days=day),
                    "p95_latency_ms": p95,
                    "is_baseline": day == count,
                }
            )
        )
    return runs


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rps", type=float, default=50.0)
    parser.add_argument("--history", type=int, default=99, help="earlier runs stored before the report")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sk-loadagent-report-bench-") as scratch:
        folder = Path(scratch)
        store = open_store(folder / "memory.sqlite")
        async with SampleService(release="stable") as service:
            plan = soak_plan(args.minutes, args.rps)
            started = time.monotonic()
            outcome = await run_suite(
                SuiteRequest(plan=plan, target_url=service.url),
                RunContext(source_agent="report-bench"),
                store=store,
                out_dir=folder / "perf",
                max_retries=0,
            )
            soak_s = time.monotonic() - started
        suite = PerfMetrics.model_validate(json.loads((folder / "perf" / "perf-metrics.json").read_text()))
        series = store.keys()  # the soak's one series
        (record,) = [r for key in series for r in store.series(key)]
        for earlier in earlier_runs(record, args.history):
            store.push(earlier)
        started = time.monotonic()
        report = write_report(folder / "again", report_inputs(suite, store, None))
        render_s = time.monotonic() - started
        store.close()

        size = report.stat().st_size
        metrics_size = (folder / "perf" / "perf-metrics.json").stat().st_size
        first_size = (folder / "perf" / "report.html").stat().st_size
        points = len(suite.timeline or [])
        print(
            f"soak {args.minutes:g} min at {args.rps:g} rps: {suite.requests or 0:,} requests, "
            f"{points:,} timeline points, status {outcome.metrics.status} (run took {soak_s:.0f} s)"
        )
        print(f"perf-metrics.json: {metrics_size:,} bytes")
        print(f"report.html as the run wrote it (1 stored run): {first_size:,} bytes")
        verdict = "MET" if size < LIMIT_BYTES else "NOT MET"
        print(
            f"report.html with {args.history + 1} stored runs: {size:,} bytes, written in {render_s:.2f} s "
            f"(target < {LIMIT_BYTES:,} bytes) → {verdict}"
        )


if __name__ == "__main__":
    asyncio.run(main())
