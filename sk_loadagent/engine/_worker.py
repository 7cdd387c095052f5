"""One load worker: runs its share of the schedule on an event loop and reports to the parent.

The same coroutine runs in a spawned process (uvloop when installed) or, with ``workers=0``, in the caller's
event loop. A supervisor tick (every 50 ms) ends overdue requests, follows the VU schedule, flushes the
recorder, sends progress and stress-step reports, obeys "stop" from the parent and ends the run: when the
schedule is over and every answer is in, or at the schedule's end plus the per-request timeout at the
latest, so that a request still in flight when the schedule ends gets its full timeout.

A spawned worker ignores SIGINT (Ctrl-C reaches the whole process group; the parent decides how the run
stops and stops its workers), dies quietly on SIGTERM, and ends without a word when the parent is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection as PipeEnd
from typing import Any, Protocol

import numpy as np

from sk_loadagent.engine._caps import raise_open_files_limit
from sk_loadagent.engine._closed_loop import ClosedLoop, VuClock
from sk_loadagent.engine._flow import compile_flow
from sk_loadagent.engine._flow_base import FlowBase
from sk_loadagent.engine._flow_fast import FastFlowClosedLoop, FastFlowOpenLoop, carrier_for
from sk_loadagent.engine._flow_loop import FlowClosedLoop, FlowOpenLoop
from sk_loadagent.engine._messages import ProgressPart, StepReport, WorkerOutput, WorkerSpec
from sk_loadagent.engine._open_loop import OpenLoop
from sk_loadagent.engine._recorder import Recorder
from sk_loadagent.engine._requests import Target, build_templates, outcome_table
from sk_loadagent.engine._schedule import ArrivalSchedule
from sk_loadagent.engine._step_recorder import StepRecorder
from sk_loadagent.engine._trace import TRACEPARENT
from sk_loadagent.engine._transports.base import Binding, Transport
from sk_loadagent.engine._transports.fast import FastTransport
from sk_loadagent.engine._transports.httpx import HttpxTransport
from sk_loadagent.engine.clients._http import HttpClients
from sk_loadagent.engine.clients._surfaces import SurfaceHub, open_hub, surface_name
from sk_loadagent.engine.result import Outcome, Samples
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.measurements import SurfaceMeasurements

TICK = 0.05
FLUSH_EVERY = 0.25
# Past the schedule's end plus the timeout, two ticks let the sweep end a request sent at the very end.
IN_FLIGHT_SLACK = 2 * TICK
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}

Message = tuple[object, ...]


class Link(Protocol):
    """The worker's side of its channel to the parent."""

    async def handshake(self) -> float:
        """Say "ready" and wait for the start time t0 (absolute perf_counter)."""
        ...

    def send(self, message: Message) -> None: ...

    def poll(self) -> list[Message]: ...


class LocalLink:
    """In-process channel (``workers=0``): two deques and an event."""

    def __init__(self) -> None:
        self.to_parent: deque[Message] = deque()
        self.to_worker: deque[Message] = deque()
        self._started = asyncio.Event()
        self._t0 = 0.0

    async def handshake(self) -> float:
        self.to_parent.append(("ready",))
        await self._started.wait()
        return self._t0

    def start(self, t0: float) -> None:
        self._t0 = t0
        self._started.set()

    def send(self, message: Message) -> None:
        self.to_parent.append(message)

    def poll(self) -> list[Message]:
        out = list(self.to_worker)
        self.to_worker.clear()
        return out


class PipeLink:
    """Process channel: one duplex multiprocessing pipe."""

    def __init__(self, end: PipeEnd) -> None:
        self._end = end

    async def handshake(self) -> float:
        self._end.send(("ready",))
        message = self._end.recv()  # blocking is fine: nothing runs before the start
        if message[0] != "start":
            raise RuntimeError(f"expected the start message, got {message[0]!r}")
        return float(message[1])

    def send(self, message: Message) -> None:
        self._end.send(message)

    def poll(self) -> list[Message]:
        out = []
        while self._end.poll():
            out.append(self._end.recv())
        return out


def make_transport(choice: str | Transport) -> Transport:
    if isinstance(choice, Transport):
        return choice
    return FastTransport() if choice == "fast" else HttpxTransport()


class _Run:
    """The pieces of one worker's run, wired together."""

    def __init__(self, spec: WorkerSpec, loop: asyncio.AbstractEventLoop) -> None:
        profile = spec.profile
        self.spec = spec
        self.phases = profile.phases
        self.steps: StepRecorder | None = None
        self.hub: SurfaceHub | None = None  # a surface test's
        self.step_hubs: dict[int, SurfaceHub] = {}  # a flow's steps on built-in surfaces, by step index
        self.hubs: list[SurfaceHub] = []  # every hub: the surface test's, or a flow's steps' on surfaces
        self.transport: Transport | HttpClients
        self.driver: OpenLoop | ClosedLoop | FlowBase
        if profile.flow is not None:
            self._wire_flow(spec, loop)
            return
        headers = profile.headers
        if profile.trace is not None and TRACEPARENT not in {name.lower() for name in headers}:
            headers = {**headers, **dict(profile.trace.headers())}  # a plan's own traceparent wins
        else:
            profile = profile.model_copy(update={"trace": None})
        templates = build_templates(profile.method or "GET", headers, profile.body, profile.payload_sizes)
        self.transport = make_transport(spec.transport)
        self.recorder = Recorder(
            t0=0.0,
            window_seconds=spec.window_seconds,
            phases=self.phases,
            late_threshold=spec.late_threshold,
            sample_budget=spec.sample_budget,
            bytes_out=[0] * len(templates),
            outcome_table=outcome_table(profile.expect_status),
        )
        self.transport.bind(
            Binding(
                loop=loop,
                target=Target.from_url(profile.url),
                templates=templates,
                recorder=self.recorder,
                timeout=profile.timeout,
                max_connections=spec.max_connections,
                http2=profile.http2,
                tls=profile.tls,
                proxy=profile.proxy,
                trace=profile.trace,
            )
        )
        self.recorder.set_request_bytes(self.transport.request_bytes())
        if profile.model == "open":
            schedule = ArrivalSchedule(profile.executor.rate_segments())
            if _share(schedule.total, spec.worker, spec.workers) > spec.sample_budget:
                self.recorder.keep_no_samples()
            self.driver = OpenLoop(
                loop=loop,
                transport=self.transport,
                recorder=self.recorder,
                schedule=schedule,
                worker=spec.worker,
                workers=spec.workers,
                max_connections=spec.max_connections,
                queue_limit=spec.queue_limit,
            )
        else:
            self.driver = ClosedLoop(
                loop=loop,
                transport=self.transport,
                recorder=self.recorder,
                segments=profile.executor.vu_segments(),
                worker=spec.worker,
                workers=spec.workers,
                think_time=profile.think_time,
            )

    def _wire_flow(self, spec: WorkerSpec, loop: asyncio.AbstractEventLoop) -> None:
        """A flow: iterations go to the recorder, step calls to the step recorder, through clients."""
        profile = spec.profile
        assert profile.flow is not None
        flow = compile_flow(profile.flow, worker=spec.worker)
        name = spec.transport if isinstance(spec.transport, str) else "fast"
        http = HttpClients(
            name,
            url=profile.url,
            timeout=profile.timeout,
            tls=profile.tls,
            http2=profile.http2,
            proxy=profile.proxy,
        )
        self.transport = http
        # The budget is shared: an iteration's samples and its steps' come in the ratio 1 : steps.
        share = spec.sample_budget // (1 + len(flow.steps))
        self.recorder = Recorder(
            t0=0.0,
            window_seconds=spec.window_seconds,
            phases=self.phases,
            late_threshold=spec.late_threshold,
            sample_budget=share,
            bytes_out=[0],
            outcome_table=outcome_table(None),
        )
        self.steps = StepRecorder(
            t0=0.0,
            phases=self.phases,
            check_names=[s.check_names for s in flow.steps],
            late_threshold=spec.late_threshold,
            sample_budget=spec.sample_budget - share,
        )
        makers: dict[str, Callable[[], Any]] = dict(flow.surfaces)
        makers["http"] = http.new
        if profile.flow.surface is not None:
            self.hub = open_hub(profile.flow.surface, profile.timeout, profile.tls, profile.url)
            makers[surface_name(profile.flow.surface)] = self.hub.new
            self.hubs.append(self.hub)
        for step in profile.flow.step_blocks():
            hub = open_hub(step.block, profile.timeout, profile.tls, profile.url)
            makers[step.key] = hub.new
            self.step_hubs[step.index] = hub
            self.hubs.append(hub)
        common: dict[str, Any] = {
            "loop": loop,
            "flow": flow,
            "target": http.client_target(),
            "recorder": self.recorder,
            "steps": self.steps,
            "worker": spec.worker,
            "workers": spec.workers,
            "trace": profile.trace,
        }
        # Every step an HTTP request on the fast client, or a WebSocket test's message: callbacks carry the
        # iterations, no task per step.
        carrier = carrier_for(flow, http, self.hub)
        fast = carrier is not None
        if carrier is not None:
            common["carrier"] = carrier
        else:
            common["makers"] = makers
        if profile.model == "open":
            schedule = ArrivalSchedule(profile.executor.rate_segments())
            if _share(schedule.total, spec.worker, spec.workers) > share:
                self.recorder.keep_no_samples()
            open_loop = FastFlowOpenLoop if fast else FlowOpenLoop
            self.driver = open_loop(schedule=schedule, max_clients=spec.max_connections, **common)
        else:
            closed_loop = FastFlowClosedLoop if fast else FlowClosedLoop
            self.driver = closed_loop(segments=profile.executor.vu_segments(), **common)

    def flush(self) -> None:
        self.recorder.flush()
        if self.steps is not None:
            self.steps.flush()


def _share(arrivals: int, worker: int, workers: int) -> int:
    """Arrivals ``worker``, ``worker + workers``, ... of ``arrivals``: this worker's share of the schedule."""
    return max(0, -(-(arrivals - worker) // workers))


class _Supervisor:
    """The 50 ms tick of a running worker."""

    def __init__(self, run: _Run, link: Link, t0: float) -> None:
        self.run = run
        self.link = link
        self.t0 = t0
        self.cpu_by_phase = [0.0] * len(run.phases)
        self._phase = 0
        self._cpu = time.thread_time if run.spec.in_process else time.process_time
        self._cpu_mark = self._cpu()
        self._next_flush = t0 + FLUSH_EVERY
        self._seq = 1
        self._reported: set[int] = set()
        self.cut = 0

    async def supervise(self) -> None:
        run, spec = self.run, self.run.spec
        driver, recorder = run.driver, run.recorder
        timeout = spec.profile.timeout
        grace = spec.profile.in_flight_grace
        data_out_sent = False
        while True:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            for message in self.link.poll():
                if message[0] == "stop":
                    driver.stop_at(float(message[1]))  # type: ignore[arg-type]
            driver.sweep(now, timeout)
            if isinstance(driver, VuClock):
                driver.tick(now)
                recorder.note_in_flight(now, driver.in_flight())
            if isinstance(driver, FlowBase) and driver.data_out is not None and not data_out_sent:
                self.link.send(("data-out", driver.data_out))
                data_out_sent = True
            self._account_cpu(now)
            if now >= self._next_flush:
                run.flush()
                self._next_flush = now + FLUSH_EVERY
                self._report_steps(now)
            if now >= self.t0 + self._seq * spec.progress_interval:
                self.report_progress()
            if now >= driver.end and driver.exhausted:
                if driver.drained():
                    return
                if now >= driver.end + grace + IN_FLIGHT_SLACK:
                    # What is left never got a connection in time: its age from the intended start is
                    # past the timeout already, so it ends as one.
                    self.cut = driver.cut()
                    return

    def _account_cpu(self, now: float) -> None:
        phase = self.run.recorder.phase_index(now - self.t0)
        if phase != self._phase:
            mark = self._cpu()
            self.cpu_by_phase[self._phase] += mark - self._cpu_mark
            self._cpu_mark, self._phase = mark, phase

    def finish_cpu(self) -> None:
        self.cpu_by_phase[self._phase] += self._cpu() - self._cpu_mark

    def report_progress(self) -> None:
        recorder = self.run.recorder
        self.run.flush()
        interval = recorder.take_interval()
        spec = self.run.spec
        begun = self.t0 + (self._seq - 1) * spec.progress_interval
        part = ProgressPart(
            seq=self._seq,
            seconds=max(1e-3, min(spec.progress_interval, time.perf_counter() - begun)),
            responses=interval.responses,
            requests=recorder.requests,
            errors=recorder.errors,
            late=recorder.late,
            in_flight=self.run.driver.in_flight(),
            latency=interval.latency,
        )
        self.link.send(("progress", part))
        self._seq += 1

    def _report_steps(self, now: float) -> None:
        run = self.run
        if not run.spec.stress_phases:
            return
        unresolved = [t - self.t0 for t in run.driver.unresolved()]
        for p in run.spec.stress_phases:
            if p in self._reported or now - self.t0 < run.phases[p].end:
                continue
            tally = run.recorder.phases[p]
            ages = [now - self.t0 - t for t in unresolved if run.recorder.phase_index(t) == p]
            report = StepReport(
                phase=p,
                requests=tally.requests + len(ages),
                errors=tally.errors,
                responses=tally.responses,
                latency=_copy(tally.latency),
                timeouts=tally.outcomes.get(int(Outcome.TIMEOUT), 0),
                ages=ages,
            )
            self.link.send(("step", report))
            if report.final:
                self._reported.add(p)


def _copy(histogram: LatencyHistogram) -> LatencyHistogram:
    copy = LatencyHistogram()
    copy.merge(histogram)
    return copy


def _warm_connections(spec: WorkerSpec) -> int:
    return spec.warm_connections if spec.profile.model == "open" else 0


async def run_share(spec: WorkerSpec, link: Link) -> WorkerOutput:
    """Run one worker's share of the profile and return what it measured."""
    loop = asyncio.get_running_loop()
    run = _Run(spec, loop)
    try:
        for hub in run.hubs:
            await hub.start_or_note()
        await run.driver.prepare(_warm_connections(spec))
        t0 = await link.handshake()
        run.recorder.t0 = t0
        if run.steps is not None:
            run.steps.t0 = t0
        for hub in run.hubs:
            hub.stats.t0 = t0  # type: ignore[attr-defined]
        supervisor = _Supervisor(run, link, t0)
        run.driver.start(t0)
        await supervisor.supervise()
        supervisor.finish_cpu()
        supervisor.report_progress()  # the last, partial interval
    finally:
        await run.driver.close()
        for hub in run.hubs:
            await hub.aclose()
    run.flush()
    recorder = run.recorder
    samples = recorder.samples()
    flow = run.driver if isinstance(run.driver, FlowBase) else None
    steps = run.steps
    return WorkerOutput(
        step_tallies=steps.tallies if steps is not None else [],
        step_samples=steps.samples() if steps is not None else None,
        step_complete=steps.complete if steps is not None else True,
        client_errors=dict(flow.client_errors) if flow is not None else {},
        data_out=flow.data_out if flow is not None else None,
        worker=spec.worker,
        samples=samples,
        complete=recorder.complete,
        windows=[recorder.windows[k] for k in sorted(recorder.windows)],
        tallies=recorder.phases,
        cpu_by_phase=supervisor.cpu_by_phase,
        transport=run.transport.name,
        connections_opened=run.transport.opened,
        cut_at_end=supervisor.cut,
        requests=recorder.requests,
        responses=recorder.responses,
        connect_failures=recorder.connect_failures,
        tls_failures=dict(run.transport.tls_failures),
        tls_resumed=run.transport.tls_resumed,
        traced=_traced(flow.traced if flow is not None else _transport_traced(run.transport), t0, samples),
        surface=_surface(run),
        step_surfaces=_step_surfaces(run),
        warnings=list(dict.fromkeys(note for hub in run.hubs for note in hub.notes)),
    )


def _surface(run: _Run) -> SurfaceMeasurements | None:
    flow = run.spec.profile.flow
    if run.hub is None or flow is None or flow.surface is None:
        return None
    return run.hub.measurements(flow.surface.target())


def _step_surfaces(run: _Run) -> dict[int, SurfaceMeasurements]:
    flow = run.spec.profile.flow
    targets = {step.index: step.block.target() for step in flow.step_blocks()} if flow is not None else {}
    return {index: hub.measurements(targets[index]) for index, hub in run.step_hubs.items()}


def _transport_traced(transport: Transport | HttpClients) -> list[tuple[bytes, float, float]]:
    return transport.traced if isinstance(transport, Transport) else []


def _traced(
    traced: list[tuple[bytes, float, float]], t0: float, samples: Samples
) -> list[tuple[str, float, float]]:
    """Sampled requests (or flow iterations) that were answered: trace id, start from t0 and latency, in
    seconds. An end left NaN is found by the request's start among the kept samples (which are in start
    order, each start rounded to 1 ns exactly as here); without kept samples, or without an answer, the
    request is left out."""
    found: list[tuple[str, float, float]] = []
    for ids, start, end in traced:
        offset = round(start - t0, 9)
        if end == end:
            found.append((ids[:32].decode("ascii"), offset, end - start))
            continue
        at = int(np.searchsorted(samples.start, offset))
        if at < len(samples) and samples.start[at] == offset and np.isfinite(samples.latency[at]):
            found.append((ids[:32].decode("ascii"), offset, float(samples.latency[at])))
    return found


def process_main(spec: WorkerSpec, end: PipeEnd) -> None:
    """Entry point of a spawned worker process."""
    # The parent blocked SIGINT and SIGTERM while it spawned us, so start-up could not be interrupted
    # half-way (with a traceback); from here SIGINT is the parent's business and SIGTERM ends us quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    raise_open_files_limit()
    link = PipeLink(end)
    try:
        gc.freeze()  # what is alive now lives for the whole run: keep it out of every collection
        output = _run_in_new_loop(run_share(spec, link))
        if "semantic_kernel" in sys.modules:
            output.warnings.append(
                f"load worker {spec.worker} imported semantic_kernel; it should load the engine only"
            )
        link.send(("done", output))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the parent is gone (it stopped the run, or died): nobody to report to, nothing to print
    except BaseException:
        with contextlib.suppress(OSError):  # the parent may be gone too
            link.send(("error", traceback.format_exc()))
    finally:
        end.close()


def _run_in_new_loop(coro: Coroutine[Any, Any, WorkerOutput]) -> WorkerOutput:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
