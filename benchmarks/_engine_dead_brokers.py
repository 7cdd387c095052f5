"""`make bench` part "dead-brokers" (issue 10): every surface ends within the run's bound whatever its broker
or peer does.

For each surface (websocket, grpc, amqp, nats, redis, the webhook's trigger target, the job API) a short test
(3 s, timeout 1 s) runs through the CLI (``sk-loadagent run``, pinned to CPU 1; the servers on CPU 0) four
times, against:

- ``healthy``: the real server or broker, with a small service behind it (the reference);
- ``refused``: a port nothing listens on;
- ``closed mid-run``: a loopback TCP proxy in front of the real one that resets every connection, and
  refuses new ones, halfway through the schedule (``_engine_surface_servers.py proxy``);
- ``silent``: a server that accepts the connection and never sends a byte.

Each row is the CLI's exit code, its wall time against the bound, and what the run says went wrong (the
error classes of ``perf-metrics.json``, or the unreachable target's line). The bound is the product's
``run_bound`` (``sk_loadagent/engine/_runner.py``, the README's "Run bounds") without its generous
start-up and shutdown allowances: the schedule plus the in-flight part (timeout + 0.1 s), plus a fixed
``GRACE`` for the CLI's own start (interpreter, imports, the probe, a worker process) and its artifacts.
A run past its bound, or one that printed a traceback, is a product bug.

The services behind the brokers are ``_engine_broker_echoes.py``'s, in child processes.

Run alone: ``.venv/bin/python benchmarks/engine_bench.py --only dead-brokers`` (RabbitMQ, NATS and Redis on
their usual loopback ports).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _engine_broker_echoes import BROKER_PORTS
from _engine_targets import START_TIMEOUT, Target, free_port, start_script

HERE = Path(__file__).resolve()
SERVERS = HERE.parent / "_engine_surface_servers.py"
ECHOES = HERE.parent / "_engine_broker_echoes.py"
SAMPLE_APP = HERE.parents[1] / "samples" / "service" / "app.py"
PROTO = HERE.parents[1] / "samples" / "service" / "appointments.proto"
CLI = [sys.executable, "-m", "sk_loadagent.cli.main"]
SURFACES = ("websocket", "grpc", "amqp", "nats", "redis", "webhook", "job")
BEHAVIOURS = ("healthy", "refused", "closed mid-run", "silent")
SECONDS = 3
TIMEOUT = 1.0
GRACE = 10.0  # the CLI's own start-up and artifacts: 2.5–4 s of a healthy run here, up to 9 s when busy


# -- what each surface's test looks like --------------------------------------------------------------------
@dataclass(frozen=True)
class Real:
    """The real server of a surface: where it listens and the names its service reads and writes."""

    port: int
    inname: str = ""
    outname: str = ""


@dataclass(frozen=True)
class Bounds:
    """The bound a run is held to here, the product's whole one, and where this bench kills a hang."""

    bound: float
    product: float

    @property
    def limit(self) -> float:
        return self.product + 30.0


def _test(surface: str, port: int, real: Real) -> dict[str, Any]:
    """The surface's test (as a plan holds it) aimed at ``port``: the real server's, a proxy's, a dead one."""
    shape: dict[str, Any] = {"name": f"dead-{surface}", "duration": f"{SECONDS}s", "timeout": f"{TIMEOUT:g}s"}
    message = {"json": {"op": "ping", "id": "${uuid}"}}
    if surface in ("websocket", "grpc"):
        shape |= {"type": "concurrency", "vus": 5, "surface": surface}
    else:
        shape |= {"type": "load", "rps": 20, "rampUp": "0s", "surface": surface}
    blocks: dict[str, dict[str, Any]] = {
        "websocket": {"url": f"ws://127.0.0.1:{port}/", "send": message, "correlate": "$.id"},
        "grpc": {
            "url": f"grpc://127.0.0.1:{port}",
            "proto": str(PROTO),
            "service": "vetclinic.AppointmentService",
            "method": "Book",
            "request": {"petId": "${uuid}", "clinicId": "clinic-042"},
        },
        "amqp": {
            "url": f"amqp://guest:guest@127.0.0.1:{port}/",
            "publish": {"routingKey": real.inname, **message},
            "consume": {"queue": real.outname},
        },
        "nats": {
            "url": f"nats://127.0.0.1:{port}",
            "publish": {"subject": real.inname, **message},
            "consume": {"subject": real.outname},
        },
        "redis": {
            "url": f"redis://127.0.0.1:{port}/0",
            "publish": {"stream": real.inname, **message},
            "consume": {"stream": real.outname},
        },
        "webhook": {
            "trigger": {
                "method": "POST",
                "path": "/notifications/webhook",
                "json": {"callback": "${webhook.url}"},
            }
        },
        "job": {
            "submit": {"method": "POST", "path": "/reports", "json": {"month": "2026-11"}},
            "id": "$.id",
            "poll": {"path": "/reports/${job.id}", "interval": "50ms"},
            "until": {"$.status": "done"},
        },
    }
    return {**shape, surface: blocks[surface]}


def _plan(surface: str, port: int, real: Real) -> dict[str, Any]:
    return {
        "traceId": "bench-dead-brokers",
        "moduleId": "DeadBrokers",
        "editionId": "bench",
        "baseUrl": f"http://127.0.0.1:{port}",
        "tests": [_test(surface, port, real)],
    }


def bounds_of(surface: str, real: Real) -> Bounds:
    """The bound used here and the product's whole ``run_bound`` for the surface's test, in seconds."""
    from sk_loadagent.engine import build_profile, run_bound
    from sk_loadagent.models.plan import TestSpec

    profile = build_profile(
        TestSpec.model_validate(_test(surface, real.port, real)), base_url="http://127.0.0.1:9"
    )
    bound = run_bound(profile)
    return Bounds(bound.schedule + bound.in_flight + GRACE, bound.total)


# -- the real servers --------------------------------------------------------------------------------------
@contextmanager
def real_server(surface: str, target_cpu: int) -> Iterator[Real]:
    """The surface's real server (and the service behind a broker) for as long as the block runs."""
    if surface in ("websocket", "grpc"):
        target = start_script(SERVERS, surface, target_cpu, [])
        with _stopping(target):
            yield Real(target.port)
    elif surface in BROKER_PORTS:
        tag = uuid.uuid4().hex[:8]
        inname, outname = f"bench.dead.{tag}.in", f"bench.dead.{tag}.out"
        target = start_script(ECHOES, surface, target_cpu, ["--names", f"{inname},{outname}"])
        with _stopping(target):
            yield Real(BROKER_PORTS[surface], inname, outname)
    else:
        with _sample_service(target_cpu) as port:
            yield Real(port)


@contextmanager
def _stopping(target: Target) -> Iterator[Target]:
    try:
        yield target
    finally:
        target.stop()


@contextmanager
def _sample_service(cpu: int) -> Iterator[int]:
    """The vet-clinic sample service (its webhook sender and report jobs), 10 ms a service time."""
    with tempfile.TemporaryDirectory(prefix="dead-brokers-sample-") as tmp:
        log = Path(tmp) / "service.log"
        cmd = [
            "taskset",
            "-c",
            str(cpu),
            sys.executable,
            str(SAMPLE_APP),
            "--port",
            "0",
            "--latency-ms",
            "10",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen([*cmd, "--exit-with-parent"], stdout=out, stderr=subprocess.STDOUT)
        try:
            yield _ready_port(log, process)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready_port(log: Path, process: subprocess.Popen[bytes]) -> int:
    """The port of the sample's ``READY http://127.0.0.1:<port>`` line, once it printed it."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"^READY http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"), re.M)
        if found is not None:
            return int(found.group(1))
        time.sleep(0.05)
    raise RuntimeError(f"the sample service did not start: {log.read_text(errors='replace')[-300:]}")


def broker_missing(surface: str) -> str | None:
    """Why the surface's broker cannot be used here, or None."""
    port = BROKER_PORTS.get(surface)
    if port is None:
        return None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return None
    except OSError:
        return f"nothing listens on 127.0.0.1:{port}"


# -- one run through the CLI -------------------------------------------------------------------------------
@dataclass
class Case:
    surface: str
    behaviour: str
    exit_code: int | None  # None: killed at the hard limit
    wall: float
    bound: float
    product_bound: float  # run_bound(profile).total: every allowance of the product's
    what: str  # the error classes, or the unreachable target's reason
    traceback: bool
    started: float | None = None  # epoch seconds the schedule began (perf-metrics' testStartTime)
    cut_at: float | None = None  # closed mid-run: seconds into the schedule the proxy cut at

    @property
    def within(self) -> bool:
        return self.exit_code is not None and self.wall <= self.bound and not self.traceback


def run_case(
    surface: str,
    behaviour: str,
    port: int,
    real: Real,
    bounds: Bounds,
    generator_cpu: str,
    on_progress: Callable[[float], None] | None = None,
) -> Case:
    """The CLI's run of the surface's test against ``port``; ``on_progress`` hears the seconds of the
    schedule the CLI's first progress line reports (its first, a second into the schedule)."""
    with tempfile.TemporaryDirectory(prefix="dead-brokers-") as tmp:
        plan = Path(tmp) / "plan.yaml"
        plan.write_text(json.dumps(_plan(surface, port, real), indent=1))  # JSON is YAML
        out = Path(tmp) / "out"
        argv = ["run", "--plan", str(plan), "--out", str(out), "--no-memory", "--no-report"]
        argv += ["--max-retries", "0"]
        began = time.monotonic()
        process = subprocess.Popen(
            ["taskset", "-c", generator_cpu, *CLI, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            cwd=tmp,
        )
        lines: list[str] = []
        reader = threading.Thread(target=_read, args=(process, lines, on_progress), daemon=True)
        reader.start()
        try:
            code: int | None = process.wait(timeout=bounds.limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
        wall = time.monotonic() - began
        reader.join(10)
        if process.stdout is not None:
            process.stdout.close()
        output = "".join(lines)
        what, started = _what_happened(out / "perf-metrics.json", output, code)
    traceback = "Traceback (most recent call last)" in output
    return Case(surface, behaviour, code, wall, bounds.bound, bounds.product, what, traceback, started)


_PROGRESS = re.compile(r"\]\s+([\d.]+)s/\d+s\s")


def _read(
    process: subprocess.Popen[str], lines: list[str], on_progress: Callable[[float], None] | None
) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        found = _PROGRESS.search(line)
        if found is not None and on_progress is not None:
            on_progress(float(found.group(1)))
            on_progress = None


def _what_happened(metrics: Path, output: str, code: int | None) -> tuple[str, float | None]:
    if code is None:
        return "killed at the hard limit", None
    if metrics.is_file():
        document = json.loads(metrics.read_text())
        errors: dict[str, int] = document.get("errors") or {}
        requests = int(document.get("requests") or 0)
        ok = requests - sum(errors.values())
        classes = ", ".join(f"{name} {count}" for name, count in sorted(errors.items(), key=lambda e: -e[1]))
        started = document.get("testStartTime")
        epoch = _epoch(started) if isinstance(started, str) else None
        return f"{ok} ok" + (f"; {classes}" if classes else ""), epoch
    said = re.search(r"^sk-loadagent: error: (.*)$", output, re.M)
    if said is not None:
        text = said.group(1)
        reason = re.search(r"cannot connect \((.*)\)\s*$", text) or re.search(r"^target \S+: (.*)$", text)
        return f"unreachable: {(reason.group(1) if reason else text)[:60]}", None
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return (lines[-1][:80] if lines else "no output"), None


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


# -- the section -------------------------------------------------------------------------------------------
def dead_brokers_section(
    *,
    say: Callable[[str], None],
    table: Callable[..., str],
    target_cpu: int,
    generator_cpu: str,
    surfaces: tuple[str, ...] = SURFACES,
) -> list[Case]:
    """Run every surface against every behaviour and print the table and the verdict."""
    say(
        f"## 9. Dead brokers: each surface's {SECONDS} s test (timeout {TIMEOUT:g} s) through the CLI on CPU "
        f"{generator_cpu}, its server, proxy or broker service on CPU {target_cpu}"
    )
    cases: list[Case] = []
    skipped: list[str] = []
    silent = start_script(SERVERS, "silent", target_cpu, [])
    try:
        for surface in surfaces:
            missing = broker_missing(surface)
            try:
                if missing is None:
                    cases += _surface_cases(surface, silent.port, target_cpu, generator_cpu, say)
            except RuntimeError as exc:  # its real server or service would not start
                missing = str(exc)
            if missing is not None:
                skipped.append(surface)
                say(f"  {surface}: skipped: {missing}")
    finally:
        silent.stop()
    rows = [
        [
            c.surface,
            c.behaviour,
            "killed" if c.exit_code is None else str(c.exit_code),
            f"{c.wall:.1f}",
            f"{c.bound:.1f}",
            "yes" if c.within else "NO",
            "—" if c.cut_at is None else f"{c.cut_at:.1f} s",
            c.what + (" (TRACEBACK)" if c.traceback else ""),
        ]
        for c in cases
    ]
    say(
        table(
            ["surface", "behaviour", "exit", "wall s", "bound s", "within", "cut at", "what the run says"],
            rows,
        )
    )
    if cases:
        products = sorted({f"{c.product_bound:.2f}" for c in cases})
        span = products[0] if len(products) == 1 else f"{products[0]} to {products[-1]}"
        say(
            f"bound: the schedule ({SECONDS} s) + in flight (the test's timeout, or a job's, + 0.1 s), as "
            f"run_bound() in sk_loadagent/engine/_runner.py sets them, + {GRACE:g} s for the CLI's start-up "
            "and artifacts (the product's whole run_bound, with its 30 s worker start-up and 19 s shutdown "
            f"allowances: {span} s); "
            "cut at: where in the schedule the proxy reset every connection"
        )
    faults = [c for c in cases if c.behaviour != "healthy"]
    slowest = max((c.wall for c in cases if c.behaviour == "healthy"), default=0.0)
    say(
        f"healthy runs (the reference, not judged) took up to {slowest:.1f} s: what start-up and artifacts "
        "cost on this machine now"
    )
    verdict = "yes" if faults and all(c.within for c in faults) else "NO"
    left_out = f" ({', '.join(skipped)} skipped)" if skipped else ""
    say(f"every surface ended within its bound: {verdict}{left_out}")
    say("")
    return cases


def _surface_cases(
    surface: str, silent_port: int, target_cpu: int, generator_cpu: str, say: Callable[[str], None]
) -> list[Case]:
    cases = []
    with real_server(surface, target_cpu) as real:
        bounds = bounds_of(surface, real)
        for behaviour in BEHAVIOURS:
            if behaviour == "healthy":
                case = run_case(surface, behaviour, real.port, real, bounds, generator_cpu)
            elif behaviour == "refused":
                case = run_case(surface, behaviour, free_port(), real, bounds, generator_cpu)
            elif behaviour == "silent":
                case = run_case(surface, behaviour, silent_port, real, bounds, generator_cpu)
            else:
                case = _closed_mid_run(surface, real, bounds, target_cpu, generator_cpu)
            cases.append(case)
            say(f"  {surface:<9} {behaviour:<15} exit {case.exit_code}  {case.wall:5.1f} s  {case.what}")
    return cases


def _closed_mid_run(surface: str, real: Real, bounds: Bounds, target_cpu: int, generator_cpu: str) -> Case:
    """Through a proxy that resets everything halfway through the schedule: told to when the CLI's first
    progress line (a second into the schedule) has come, plus what is left to the half."""
    proxy = start_script(SERVERS, "proxy", target_cpu, ["--upstream", f"127.0.0.1:{real.port}"])

    def cut_later(elapsed: float) -> None:
        timer = threading.Timer(max(0.0, SECONDS / 2 - elapsed), os.kill, (proxy.process.pid, signal.SIGUSR1))
        timer.daemon = True
        timer.start()

    try:
        case = run_case(surface, "closed mid-run", proxy.port, real, bounds, generator_cpu, cut_later)
        log = Path(proxy.workdir, "server.log").read_text()
    finally:
        proxy.stop()
    closed = re.search(r"^CLOSED ([\d.]+)$", log, re.M)
    if closed is not None and case.started is not None:
        case.cut_at = float(closed.group(1)) - case.started
    return case
