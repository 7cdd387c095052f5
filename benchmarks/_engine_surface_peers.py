"""`make bench` part "surface-peers" (issue 10): the WebSocket and gRPC surfaces against k6 on one server.

One server pinned to CPU 0 (``_engine_surface_servers.py``): a WebSocket echo server written for speed; the
sample's ``vetclinic.AppointmentService`` whose ``Book`` answers at once, first on HTTP/2 written for speed
(``grpc-fast``: the generators, not the server, set the pace, as nginx lets them in the saturation part),
then on grpcio's asyncio server (``grpc``: a server at its core's limit, which paces both tools). Against
each, the engine (``_engine_driver.py --surface``, one process on uvloop) and k6 run on CPU 1, back
to back and interleaved, with the same 50 VUs on the closed model for the same time:

- WebSocket: each VU holds one session and sends ``{"op": "ping", "id": <uuid>}``; the next message goes
  when the reply carrying the same id came back (the engine: ``correlate: $.id``; k6 ``k6/websockets``:
  ``JSON.parse`` and a comparison in ``onmessage``). Counted: replies matched (the engine's ``ok``; k6's
  ``ws_msgs_received``, every one of which is an echo).
- gRPC unary: each VU calls ``Book`` with a fresh uuid and waits for the answer (the engine: its own HTTP/2
  connection per VU; k6 ``k6/net/grpc``: a client per VU, loading the same ``appointments.proto``, with the
  documented ``check`` of the status). Counted: calls answered OK (the engine's ``ok``; k6's ``checks``
  passes).

Each tool's CPU is the rusage of its process tree (``_engine_procs.run_tool``); messages per CPU-second are
its rate divided by the cores it used between 2 s after its start and 1 s before its end (start-up
excluded, as in the saturation part), and over the whole run beside it. The ratio is the engine's over
k6's, per run and the median. The issue sets no target: the ratio is printed.

Run alone: ``.venv/bin/python benchmarks/engine_bench.py --only surface-peers``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _engine_procs import Finished, SatRun, cpu_seconds, median, run_tool, saturation_cells
from _engine_targets import Target, start_script

HERE = Path(__file__).resolve().parent
SERVERS = HERE / "_engine_surface_servers.py"
PROTO = HERE.parent / "samples" / "service" / "appointments.proto"
VUS = 50
ENGINE = "engine (sk-loadagent)"
ENV = {"K6_NO_USAGE_REPORT": "true"}

# One session per VU for the run's length, each message sent when the last one's reply came back.
K6_WEBSOCKET = """import { WebSocket } from '%(module)s';
export const options = {
  scenarios: {
    echo: { executor: 'per-vu-iterations', vus: %(vus)d, iterations: 1, maxDuration: '%(max)ds' },
  },
};
export default function () {
  const ws = new WebSocket('%(url)s');
  let id = '';
  const next = () => { id = crypto.randomUUID(); ws.send(JSON.stringify({ op: 'ping', id: id })); };
  ws.onopen = () => { next(); setTimeout(() => ws.close(), %(ms)d); };
  ws.onmessage = (e) => { if (JSON.parse(e.data).id === id) next(); };
}
"""
K6_GRPC = """import grpc from 'k6/net/grpc';
import { check } from 'k6';
const client = new grpc.Client();
client.load(['%(folder)s'], '%(proto)s');
export const options = { vus: %(vus)d, duration: '%(secs)ds' };
export default function () {
  if (__ITER === 0) client.connect('%(address)s', { plaintext: true });
  const res = client.invoke('vetclinic.AppointmentService/Book',
                            { pet_id: crypto.randomUUID(), clinic_id: 'clinic-042' });
  check(res, { 'status OK': (r) => r && r.status === grpc.StatusOK });
}
"""


@dataclass
class Run(SatRun):
    """One tool's run (``requests``: messages or calls answered) and the server's CPU while it ran."""

    server_cpu: float = 0.0


Parse = Callable[[Finished], int]


def websocket_module(k6: str, workdir: Path) -> str:
    """``k6/websockets`` where this k6 has it, else its earlier name ``k6/experimental/websockets``."""
    probe = workdir / "k6_websockets_probe.js"
    probe.write_text("import { WebSocket } from 'k6/websockets';\nexport default function () {}\n")
    found = subprocess.run(
        [k6, "inspect", str(probe)], capture_output=True, timeout=60, env=_env(), check=False
    )
    return "k6/websockets" if found.returncode == 0 else "k6/experimental/websockets"


def _env() -> dict[str, str]:
    return {**os.environ, **ENV}


def _tools(
    surface: str,
    target: Target,
    seconds: int,
    engine_cmd: Callable[..., list[str]],
    engine_json: Callable[[Finished], dict[str, object]],
    k6: str | None,
    workdir: Path,
) -> list[tuple[str, list[str], Parse]]:
    port = target.port
    block: dict[str, object]
    if surface == "websocket":
        block = {"url": f"ws://127.0.0.1:{port}/", "send": {"json": {"op": "ping", "id": "${uuid}"}}}
        block["correlate"] = "$.id"
    else:
        block = {
            "url": f"grpc://127.0.0.1:{port}",
            "proto": str(PROTO),
            "service": "vetclinic.AppointmentService",
            "method": "Book",
            "request": {"petId": "${uuid}", "clinicId": "clinic-042"},
        }
    engine = [*engine_cmd("http://127.0.0.1:9/", seconds, vus=VUS), "--surface", surface]
    tools: list[tuple[str, list[str], Parse]] = [
        (ENGINE, [*engine, "--block", json.dumps(block)], lambda f: int(engine_json(f)["ok"]))  # type: ignore[call-overload]
    ]
    if k6 is None:
        return tools
    script = workdir / f"k6_{surface}.js"
    summary = workdir / f"k6_{surface}.json"
    if surface == "websocket":
        script.write_text(
            K6_WEBSOCKET
            % {
                "module": websocket_module(k6, workdir),
                "vus": VUS,
                "max": seconds + 10,
                "url": f"ws://127.0.0.1:{port}/",
                "ms": seconds * 1000,
            }
        )
        parse: Parse = lambda _f: int(_k6_metrics(summary)["ws_msgs_received"]["count"])  # noqa: E731
    else:
        values = {"folder": PROTO.parent, "proto": PROTO.name, "vus": VUS, "secs": seconds}
        script.write_text(K6_GRPC % {**values, "address": f"127.0.0.1:{port}"})
        parse = lambda _f: int(_k6_metrics(summary)["checks"]["passes"])  # noqa: E731
    cmd = [k6, "run", "--no-usage-report", "--quiet", "--summary-export", str(summary), str(script)]
    tools.append(("k6", cmd, parse))
    return tools


def _k6_metrics(summary: Path) -> dict[str, dict[str, float]]:
    metrics: dict[str, dict[str, float]] = json.loads(summary.read_text())["metrics"]
    return metrics


def _interleave(
    tools: list[tuple[str, list[str], Parse]],
    target: Target,
    reps: int,
    seconds: int,
    generator_cpu: str,
    say: Callable[[str], None],
    unit: str,
) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {name: [] for name, _, _ in tools}
    server = target.process.pid
    for rep in range(reps):
        for name, cmd, parse in tools:
            before = cpu_seconds(server)
            finished = run_tool(cmd, cpus=generator_cpu, limit_seconds=seconds + 60, env=ENV)
            server_cpu = cpu_seconds(server) - before
            try:
                count = parse(finished)
            except (ValueError, KeyError, OSError) as exc:
                say(f"  run {rep + 1} {name}: no result ({exc}): {finished.output[-300:]}")
                continue
            util = finished.steady_utilisation(skip_start=2.0, skip_end=1.0) if seconds >= 5 else None
            run = Run(count, finished.cpu_seconds, util, seconds, server_cpu=server_cpu)
            runs[name].append(run)
            say(
                f"  run {rep + 1} {name:<22} {run.rps:>9,.0f} {unit}/s  {run.cpu:6.2f} CPU-s  "
                f"{run.per_cpu_s:>9,.0f} per CPU-s  server {server_cpu / seconds:.2f} cores"
            )
            time.sleep(1.0)
    return runs


def _print(
    surface: str, unit: str, runs: dict[str, list[Run]], say: Callable[[str], None], table: Callable[..., str]
) -> float | None:
    mine = runs[ENGINE]
    rows = []
    for name, rs in runs.items():
        if not rs:
            rows.append([name, *["n/a"] * 7])
            continue
        cells = saturation_cells(rs, mine, name == ENGINE)
        server = f"{median([r.server_cpu / r.seconds for r in rs]):.2f}"
        rows.append([name, *cells[:5], server, cells[5]])
    say(
        table(
            [
                "tool",
                f"{unit}/s",
                "generator CPU-s",
                f"CPU µs/{unit[:-1]}",
                f"{unit} per CPU-s",
                "per CPU-s (whole run)",
                "server cores",
                "engine ÷ tool (per run)",
            ],
            rows,
        )
    )
    theirs = runs.get("k6") or []
    if not mine or not theirs:
        say(f"{surface} ratio engine ÷ k6: n/a (k6 {'absent' if 'k6' not in runs else 'gave no result'})")
        return None
    ratios = [m.per_cpu_s / r.per_cpu_s for m, r in zip(mine, theirs, strict=False)]
    ratio = median(ratios)
    ours, k6s = median([r.per_cpu_s for r in mine]), median([r.per_cpu_s for r in theirs])
    say(
        f"{surface} ratio engine ÷ k6: {ratio:.2f}× {unit} per generator CPU-second "
        f"(per run {', '.join(f'{x:.2f}' for x in ratios)}; engine {ours:,.0f}, k6 {k6s:,.0f})"
    )
    return ratio


def surface_peers_section(
    *,
    engine_cmd: Callable[..., list[str]],
    engine_json: Callable[[Finished], dict[str, object]],
    say: Callable[[str], None],
    table: Callable[..., str],
    target_cpu: int,
    generator_cpu: str,
    reps: int,
    seconds: int,
    k6: str | None,
    workdir: Path,
) -> dict[str, float | None]:
    """Both surfaces' tables and ratio lines; returns the ratio of each (None without k6)."""
    say(
        f"## 8. Surfaces against k6: WebSocket messages and gRPC unary calls per generator CPU-second, {VUS} "
        f"VUs (closed model) for {seconds} s, server on CPU {target_cpu}, generators on CPU {generator_cpu}, "
        f"{reps} interleaved run(s)"
    )
    ratios: dict[str, float | None] = {}
    for surface, server, unit, title in (
        ("websocket", "websocket", "messages", "WebSocket echo server (uvloop, frames by hand)"),
        (
            "grpc",
            "grpc-fast",
            "calls",
            "AppointmentService.Book on HTTP/2 by hand (uvloop), answered at once",
        ),
        ("grpc", "grpc", "calls", "the same on grpcio's asyncio server (the server limits both tools)"),
    ):
        say(f"### {server}: {title}")
        target = start_script(SERVERS, server, target_cpu, [])
        try:
            tools = _tools(surface, target, seconds, engine_cmd, engine_json, k6, workdir)
            runs = _interleave(tools, target, reps, seconds, generator_cpu, say, unit)
        finally:
            target.stop()
        ratios[server] = _print(server, unit, runs, say, table)
    say(
        "per CPU-s: the rate ÷ the cores the tool used between 2 s after its start and 1 s before its end; "
        "whole run: answered ÷ CPU-s of the whole process tree; server cores: the server's CPU-s ÷ the run's "
        "length"
    )
    say("")
    return ratios
