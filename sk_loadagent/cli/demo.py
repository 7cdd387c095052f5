"""The demo: the bundled sample service, a baseline run, then a slowed release that the gate must catch."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sk_loadagent.cli.commands import print_outcome
from sk_loadagent.cli.progress import ProgressPrinter
from sk_loadagent.engine import RunOptions
from sk_loadagent.memory import open_store
from sk_loadagent.models.context import RunContext
from sk_loadagent.models.loading import read_document
from sk_loadagent.models.metrics import PerfMetrics, StepMetrics
from sk_loadagent.suite.gate import GateDecision, decide_gate

if TYPE_CHECKING:
    from sk_loadagent.memory import MemoryStore
    from sk_loadagent.planners.agent import AgentOutcome, SuiteRequest


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _fresh_memory(out: Path) -> Path:
    """The demo's memory file under ``out``, emptied: its story is the same every time it runs."""
    memory_path = out / "demo-memory.sqlite"
    for stale in (memory_path, Path(f"{memory_path}-wal"), Path(f"{memory_path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return memory_path


async def _judged_run(
    request: SuiteRequest,
    trace_id: str,
    store: MemoryStore,
    out_dir: Path,
    options: RunOptions,
    target_pid: int,
    printer: ProgressPrinter,
) -> tuple[AgentOutcome, GateDecision]:
    """One of the demo's runs, without retries: run, judged by the gate, printed."""
    from sk_loadagent.planners.agent import run_suite

    outcome = await run_suite(
        request,
        RunContext(trace_id=trace_id, source_agent="demo"),
        store=store,
        out_dir=out_dir,
        options=options,
        target_pid=target_pid,
        progress=printer,
        max_retries=0,
    )
    printer.close()
    gate = decide_gate(outcome.metrics, min_score=None, fail_on_degraded=True)
    print_outcome(outcome.metrics, gate, outcome.artifacts)
    return outcome, gate


def _regression_lines(metrics: PerfMetrics) -> list[str]:
    lines = []
    for t in metrics.tests or [metrics]:
        c = t.baseline_comparison
        if c is None or c.p95_latency_baseline is None:
            continue
        interval = (
            f" (95% interval {c.delta_latency_p95_interval.low} to {c.delta_latency_p95_interval.high})"
            if (c.delta_latency_p95_interval)
            else ""
        )
        lines.append(
            f"  {t.test_type} {t.endpoint}: p95 {c.p95_latency_baseline:.2f} ms -> {c.p95_current:.2f} ms, "
            f"delta {c.delta_latency_p95}{interval}, regressed={c.regressed}, confidence={c.confidence}"
        )
        if c.moved_steps:
            lines.append(f"    the step that moved most: {c.moved_steps[0]}")
    return lines


def _free_port() -> int:
    """A free loopback port for the run's OTLP receiver (bound for a moment, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _observability_config(path: Path, receiver: str, service_url: str) -> str:
    """observability.config.yaml for the demo: spans to the run's receiver, the service's /metrics scraped."""
    lines = [
        "# written by the demo: the sample service exports its spans to the run and is scraped each second",
        "sampling: 0.1",
        "spans:",
        f"  - source: otlp\n    url: {receiver}",
        "metrics:",
        f"  - source: prometheus\n    url: {service_url}/metrics\n    interval: 1s",
        "    series: {queue: sample_queue_depth}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _trace_lines(path: str | None) -> list[str]:
    """What trace-summary.json says about the bottleneck, for the demo's closing words."""
    if path is None or not Path(path).is_file():
        return ["  (no trace-summary.json)"]
    summary = json.loads(Path(path).read_text(encoding="utf-8"))
    b = summary.get("bottleneck")
    if not b:
        return [f"  {summary.get('notes') or 'no bottleneck found'}"]
    new = f"new (the baseline's was {b.get('baselineBottleneck')})" if b.get("newVsBaseline") else "not new"
    return [
        f"  {summary.get('testName')}: {summary.get('tracesWithSpans')} sampled requests with spans, "
        f"{summary.get('spanCount')} spans; p95 request time {summary.get('durationMs')} ms",
        f"  bottleneck {b['service']} / {b['name']}: {b['shareAtP95']:.0%} of the p95 request time, {new}; "
        f"self time {b.get('selfDeltaVsBaseline') or 'not compared'} vs the baseline; "
        f"bottleneckDetected={summary.get('bottleneckDetected')}",
    ]


def demo_plan(folder: Path) -> dict[str, Any]:
    """test-suite.plan.yaml with the checkout journey of checkout-flow.plan.yaml beside its tests."""
    plan: dict[str, Any] = read_document(folder / "test-suite.plan.yaml")
    flows: dict[str, Any] = read_document(folder / "checkout-flow.plan.yaml")
    for test in flows["tests"]:
        if "data" in test:  # read from the flow plan's folder, as that plan says
            test["data"]["file"] = str(folder / test["data"]["file"])
    plan["tests"] = [*plan["tests"], *flows["tests"]]
    return plan


async def demo_command(args: argparse.Namespace) -> int:
    from sk_loadagent.planners.agent import SuiteRequest
    from sk_loadagent.sample_service import SampleService, samples_dir

    started = time.monotonic()
    folder = samples_dir() / "vetclinic"
    out = Path(args.out) / "demo"
    memory_path = _fresh_memory(out)
    store = open_store(memory_path)
    printer = ProgressPrinter()
    options = RunOptions(workers=args.workers)
    request = SuiteRequest(
        plan=demo_plan(folder),
        thresholds=[str(folder / "perf-thresholds.yaml")],
        metadata=str(folder / "service.metadata.yaml"),
        editions=str(folder / "edition.config.json"),
    )
    _say("sk-loadagent demo: the vet-clinic sample service, a baseline run, then a slowed release.\n")
    receiver = f"http://127.0.0.1:{_free_port()}"
    try:
        async with SampleService(release="stable", otlp_endpoint=receiver) as service:
            request.target_url = service.url
            request.observability = _observability_config(
                out / "observability.config.yaml", receiver, service.url
            )
            _say(
                f"Started the sample service (stable release) at {service.url}, pid {service.pid}; it exports"
            )
            _say(f"its spans over OTLP to the run's receiver at {receiver} and serves /metrics.")
            _say(f"Run 1 of 2: the baseline, against the stable release. Memory: {memory_path}\n")
            first, first_gate = await _judged_run(
                request, "demo-stable", store, out / "1-stable", options, service.pid, printer
            )

            await service.configure_async(release="slow")
            _say("\nSwitched the service to the slow release (its handlers now take about 3x longer).")
            _say("Run 2 of 2: the same suite against the slow release, compared with the stored baseline.\n")
            second, second_gate = await _judged_run(
                request, "demo-slow-release", store, out / "2-slow-release", options, service.pid, printer
            )
        _say("\nStopped the sample service.")
    finally:
        store.close()
    _say("\nWhat the memory comparison found in run 2:")
    for line in _regression_lines(second.metrics) or ["  (no comparison made)"]:
        _say(line)
    _say("\nWhat the service's spans say in run 2 (trace-summary.json):")
    for line in _trace_lines(second.artifacts.get("traceSummary")):
        _say(line)
    alert = second.artifacts.get("regressionAlert")
    if alert:
        _say(f"\nregression-alert.yaml ({alert}):")
        _say("  " + Path(alert).read_text(encoding="utf-8").rstrip().replace("\n", "\n  "))
    caught = first_gate.passed and not second_gate.passed
    verdict = "caught" if caught else "NOT caught"
    _say(
        f"\nDemo finished in {time.monotonic() - started:.0f} s: baseline {first.metrics.status} "
        f"(score {first.metrics.performance_score}), slow release {second.metrics.status} "
        f"(score {second.metrics.performance_score}); the regression was {verdict}."
    )
    _say(f"Artifacts are under {out}/.")
    return 0 if caught else 1


SURFACE_SECONDS = 4.0  # each surface test of the surfaces demo (its plan says 10 s)


def surfaces_plan(folder: Path, *, amqp: bool, grpc_url: str | None = None) -> dict[str, Any]:
    """One plan of the sample surface plans' tests (``plans/surfaces``), each shortened for the demo; the
    gRPC test (with ``grpc_url``, the sample server's) reads its proto from the plan's folder."""
    # through RabbitMQ: the worker's test, and the flow that books over HTTP, then sends the reminder
    brokered = ["amqp", "booking-flow"] if amqp else []
    names = ["websocket", "webhook", "job", *(["grpc"] if grpc_url else []), *brokered]
    surfaces = folder / "plans" / "surfaces"
    plan: dict[str, Any] = read_document(surfaces / "websocket.plan.yaml")
    plan["traceId"] = "demo-surfaces"
    plan["tests"] = []
    for name in names:
        test = read_document(surfaces / f"{name}.plan.yaml")["tests"][0]
        test["duration"] = f"{SURFACE_SECONDS:g}s"
        if name == "grpc":
            test["grpc"].update(url=grpc_url, proto=str((surfaces / test["grpc"]["proto"]).resolve()))
        plan["tests"].append(test)
    return plan


def _broker_listening(url: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=2):
            return True
    except OSError:
        return False


async def demo_surfaces_command(args: argparse.Namespace) -> int:
    """The surfaces demo: the WebSocket feed, webhook sender, report jobs and (when RabbitMQ runs) the
    notification worker, a baseline run, then the slow release that the gate must catch."""
    from sk_loadagent.planners.agent import SuiteRequest
    from sk_loadagent.sample_service import AppointmentsGrpc, NotificationWorker, SampleService, samples_dir

    started = time.monotonic()
    folder = samples_dir() / "vetclinic"
    out = Path(args.out) / "demo-surfaces"
    memory_path = _fresh_memory(out)
    amqp_url = "amqp://guest:guest@127.0.0.1:5672/"
    amqp = _broker_listening(amqp_url)
    store = open_store(memory_path)
    printer = ProgressPrinter()
    options = RunOptions(workers=args.workers)
    _say(
        "sk-loadagent demo --surfaces: the vet-clinic sample beyond HTTP, a baseline, then a slow release.\n"
    )
    if not amqp:
        _say(
            "RabbitMQ is not listening at 127.0.0.1:5672: its two tests (the worker's, the booking flow) "
            "are left out.\n"
        )
    try:
        async with SampleService(release="stable") as service, contextlib.AsyncExitStack() as stack:
            _say(f"Started the sample service (stable release) at {service.url}, pid {service.pid}.")
            grpc = await stack.enter_async_context(AppointmentsGrpc(service.url))
            _say(f"Started the gRPC AppointmentService at {grpc.url}.")
            if amqp:
                await stack.enter_async_context(NotificationWorker(service.url, amqp_url=amqp_url))
                _say("Started the RabbitMQ notification worker (vetclinic.notifications.in -> .out).")
            request = SuiteRequest(plan=surfaces_plan(folder, amqp=amqp, grpc_url=grpc.url))
            request.target_url = service.url
            _say(f"Run 1 of 2: the baseline, against the stable release. Memory: {memory_path}\n")
            first, first_gate = await _judged_run(
                request, "demo-surfaces-stable", store, out / "1-stable", options, service.pid, printer
            )
            await service.configure_async(release="slow")
            await asyncio.sleep(1.0)  # the gRPC server and the worker read the service's knobs every 0.5 s
            _say(
                "\nSwitched the service (and the gRPC server and worker, which follow it) to the slow release"
            )
            _say(
                "Run 2 of 2: the same surfaces against the slow release, compared with the stored baseline.\n"
            )
            second, second_gate = await _judged_run(
                request,
                "demo-surfaces-slow-release",
                store,
                out / "2-slow-release",
                options,
                service.pid,
                printer,
            )
        _say("\nStopped the sample service.")
    finally:
        store.close()
    _say("\nWhat the memory comparison found in run 2:")
    for line in _regression_lines(second.metrics) or ["  (no comparison made)"]:
        _say(line)
    _say("\nEach surface's own figures in run 2 (perf-metrics.json, under surface):")
    for test in second.metrics.tests or [second.metrics]:
        if test.surface is not None:
            _say(f"  {test.test_name}: {_surface_line(test)}")
        for step in test.steps or []:
            if step.surface is not None:
                _say(f"  {test.test_name}, step {step.name} ({step.surface.kind}): {_surface_line(step)}")
    caught = first_gate.passed and not second_gate.passed
    _say(
        f"\nDemo finished in {time.monotonic() - started:.0f} s: baseline {first.metrics.status}, "
        f"slow release {second.metrics.status}; the regression was {'caught' if caught else 'NOT caught'}."
    )
    _say(f"Artifacts are under {out}/.")
    return 0 if caught else 1


def _surface_line(metrics: PerfMetrics | StepMetrics) -> str:
    s = metrics.surface
    assert s is not None
    if s.kind == "websocket":
        push = (
            f", push latency p50 {s.push_latency.p50:.1f} ms" if s.push_latency and s.push_latency.p50 else ""
        )
        connect = s.connect_time.p50 if s.connect_time and s.connect_time.p50 else 0.0
        return f"{s.connects} sessions, connect p50 {connect:.1f} ms, {s.lost} lost{push}"
    if s.kind == "webhook":
        return f"{s.delivered} of {s.triggered} delivered, {s.retries} sender retries"
    if s.kind == "grpc":
        streams = s.stream_messages
        return "unary calls" if streams is None else f"{streams.total} streamed messages"
    if s.kind == "job":
        polls = s.polls
        mean = polls.mean if polls is not None and polls.mean is not None else 0.0
        return f"{s.done} jobs done, {mean:.1f} polls per job"
    ack = s.time_to_ack.p50 if s.time_to_ack and s.time_to_ack.p50 else 0.0
    deepest = max((d.max or 0.0 for d in s.depth or []), default=0.0)
    return f"{s.received} of {s.published} answered, time-to-ack p50 {ack:.2f} ms, deepest queue {deepest:g}"
