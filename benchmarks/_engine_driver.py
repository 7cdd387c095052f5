"""Run the engine once as a plain child process and print one JSON line with what it measured.

The bench script starts this like any other peer tool (pinned with taskset, CPU from the rusage of the whole
process tree), so the engine gets no special treatment in the ratios. ``--workers 0`` generates the load in
this process on uvloop (one process, like wrk -t1); ``--workers N`` spawns N worker processes. An https://
URL is verified with ``--ca-file``; ``--close`` asks the server to close after each answer (``Connection:
close``), so every request opens a new connection: what a handshake costs. ``--flow-steps N`` runs a flow of
N steps instead of single requests (the first extracts a value from the body, the others send it in a
header; each checks its status), and ``--rps`` then counts iterations. ``--trace-sampling S`` puts W3C
trace context on every request, a share S sampled. ``--surface NAME --block JSON`` runs a test of that
surface (``websocket``, ``grpc``, ...) with JSON as its block, as a plan would hold it; ``requests`` then
counts messages or calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys

import numpy as np

from sk_loadagent.engine import LoadProfile, Outcome, RunOptions, RunResult, build_profile, run_load
from sk_loadagent.engine._trace import TraceContext
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.models.plan import TestSpec

QUANTILES = ("0.5", "0.9", "0.99", "1.0")


def profile_for(args: argparse.Namespace) -> LoadProfile:
    spec: dict[str, object]
    if args.vus:
        spec = {"type": "concurrency", "vus": args.vus, "duration": f"{args.duration}s", "rampUp": "0s"}
    else:
        spec = {"type": "load", "rps": args.rps, "duration": f"{args.duration}s", "rampUp": "0s"}
        if args.max_connections:
            spec["maxConnections"] = args.max_connections
    spec["timeout"] = f"{args.timeout}s"
    spec["transport"] = "fast"
    if args.ca_file:
        spec["tls"] = {"caFile": args.ca_file}
    if args.close:
        spec["headers"] = {"Connection": "close"}
    if args.flow_steps:
        spec["name"] = "bench-flow"
        spec["flow"] = flow_steps(args.flow_steps)
    if args.surface:
        spec["surface"] = args.surface
        spec[args.surface] = json.loads(args.block)
    return build_profile(TestSpec.model_validate(spec), base_url=args.url)


def flow_steps(count: int) -> list[dict[str, object]]:
    """A flow as a user writes one: a value extracted from the first answer and sent on by the others."""
    first = {
        "name": "s1",
        "request": {"path": "/s1?n=${iteration}"},
        "extract": {"v": "regex:(o)k"},
        "check": {"status": 200},
    }
    rest = [
        {"name": f"s{i}", "request": {"path": f"/s{i}", "headers": {"X-V": "${v}"}}, "check": {"status": 200}}
        for i in range(2, count + 1)
    ]
    return [first, *rest]


def nearest_rank(ordered: np.ndarray, q: float) -> float:
    return float(ordered[max(0, math.ceil(q * ordered.size) - 1)]) if ordered.size else math.nan


def summary(result: RunResult) -> dict[str, object]:
    g = result.generator
    s = result.samples
    if result.complete:
        answered = np.sort(s.latency[~np.isnan(s.latency)]) * 1000.0
        service = np.sort(s.service[~np.isnan(s.service)]) * 1000.0
        latency_ms = {q: nearest_rank(answered, float(q)) for q in QUANTILES}
        service_ms = {q: nearest_rank(service, float(q)) for q in QUANTILES}
        ok = int((s.outcome == Outcome.OK).sum())
    else:  # over the sample budget: the per-window histograms (±1 %) are what is left
        latency_ms = _from_windows(result, "latency")
        service_ms = _from_windows(result, "service")
        ok = sum(w.outcomes.get(int(Outcome.OK), 0) for w in result.windows)
    measured = [i for i, p in enumerate(result.phases) if p.measured]
    step_calls = sum(step.phases[i].requests for step in result.steps for i in measured)
    return {
        "requests": g.requests,
        "stepCalls": step_calls,
        "samples": len(s),
        "complete": result.complete,
        "ok": ok,
        "cpuSeconds": g.cpu_seconds,
        "wallSeconds": g.wall_seconds,
        "lateStarts": g.late_starts,
        "dropped": g.dropped,
        "connections": g.connections_opened,
        "tlsResumed": g.tls_resumed,
        "workers": g.workers,
        "transport": g.transport,
        "duration": result.duration,
        "latencyMs": latency_ms,
        "serviceMs": service_ms,
        "warnings": result.warnings,
    }


def _from_windows(result: RunResult, which: str) -> dict[str, float]:
    merged = LatencyHistogram()
    for window in result.windows:
        merged.merge(getattr(window, which))
    return {q: _ms(merged.quantile(float(q))) for q in QUANTILES}


def _ms(seconds: float | None) -> float:
    return math.nan if seconds is None else seconds * 1000.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--rps", type=float, default=0.0)
    parser.add_argument("--vus", type=int, default=0)
    parser.add_argument("--max-connections", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--sample-budget", type=int, default=2_000_000)
    parser.add_argument("--ca-file", help="CA file that verifies an https:// target")
    parser.add_argument("--close", action="store_true", help="a new connection for every request")
    parser.add_argument("--flow-steps", type=int, default=0, help="run a flow of this many steps")
    parser.add_argument("--trace-sampling", type=float, help="W3C trace context, this share sampled")
    parser.add_argument("--surface", help="a surface test (websocket, grpc, ...) instead of HTTP requests")
    parser.add_argument("--block", default="{}", help="the surface's block as JSON")
    args = parser.parse_args(argv)
    options = RunOptions(workers=args.workers, transport="fast", sample_budget=args.sample_budget)
    profile = profile_for(args)
    if args.trace_sampling is not None:
        trace = TraceContext.for_test(args.trace_sampling, "bench", "bench")
        profile = profile.model_copy(update={"trace": trace})
    if args.workers == 0:
        import uvloop

        result = uvloop.run(run_load(profile, options))
    else:
        result = asyncio.run(run_load(profile, options))
    print(json.dumps({**summary(result), "traced": len(result.traced)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
