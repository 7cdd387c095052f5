"""run_load: check the target, start the workers on one t0, watch them, merge what they measured.

A run's wall time is bounded (``run_bound``): start-up (the target check, the workers' start), the schedule,
the per-request timeout for requests still in flight at its end, and shutdown (the workers' last reports,
stopping them). Each part has its own limit here or in the worker; a worker that passes one is a
WorkerFailedError, never a silently shorter run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from sk_loadagent.engine._flow import StepBlock
from sk_loadagent.engine._handles import STOP_TIMEOUT, LocalHandle, ProcessHandle, WorkerHandle
from sk_loadagent.engine._merge import (
    RunFacts,
    client_warnings,
    generator_report,
    merge_tallies,
    merge_windows,
    merged_samples,
    merged_steps,
    shortfall_warnings,
    tls_failures,
    tls_warnings,
)
from sk_loadagent.engine._messages import ProgressPart, StepReport, WorkerOutput, WorkerSpec
from sk_loadagent.engine._options import Progress, RunOptions
from sk_loadagent.engine._placement import Placement
from sk_loadagent.engine._profile import LoadProfile, StressRule
from sk_loadagent.engine._proxy import redact
from sk_loadagent.engine._recorder import PhaseTally
from sk_loadagent.engine._requests import Target
from sk_loadagent.engine._safety import check_target
from sk_loadagent.engine._schedule import ArrivalSchedule
from sk_loadagent.engine._stress import StepFacts, broken_reasons, facts_from, step_record
from sk_loadagent.engine._tls import client_context, describe_failures, failure_reason, fix_for
from sk_loadagent.engine._transports.base import Transport
from sk_loadagent.engine._worker import IN_FLIGHT_SLACK
from sk_loadagent.engine.clients._surfaces import probe, surface_name
from sk_loadagent.engine.result import OUTCOME_NAMES, Outcome, Phase, RunResult
from sk_loadagent.errors import InputError, TargetUnreachableError, WorkerFailedError
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.models.plan import TlsOptions
from sk_loadagent.models.surfaces import SURFACE_SCHEMES, SurfaceBlock, WebSocketSurface
from sk_loadagent.secrets import mask_url

POLL = 0.05
PREFLIGHT_TIMEOUT = 5.0  # the target check (connect, TLS handshake), at most (and at most the timeout)
READY_TIMEOUT = 30.0  # a spawned interpreter imports numpy, pydantic and the engine before it is ready
START_DELAY_LOCAL = 0.02
START_DELAY_PROCESS = 0.25
REPORT_TIMEOUT = 10.0  # after the in-flight timeout: a worker's last flush and its output reaching us
WARM_SECONDS = 0.002  # connections opened before t0: what the peak rate needs for ~2 ms
MAX_WARM = 256
MIN_QUEUE = 100


@dataclass(frozen=True)
class RunBound:
    """The longest one run of a profile can take, by part, in seconds (the README's table)."""

    startup: float  # the target check, the workers' start-up and the start delay
    schedule: float  # the profile's whole schedule
    in_flight: float  # requests in flight at the schedule's end get the per-request timeout (+ two ticks); a
    # flow's iterations every step's timeout and think time
    shutdown: float  # the workers' last reports, then stopping them

    @property
    def total(self) -> float:
        return self.startup + self.schedule + self.in_flight + self.shutdown


def run_bound(profile: LoadProfile) -> RunBound:
    """What ``run_load`` enforces: each part has its own limit (see the constants here and in the worker)."""
    return RunBound(
        startup=min(profile.timeout, PREFLIGHT_TIMEOUT) + READY_TIMEOUT + START_DELAY_PROCESS,
        schedule=profile.total_duration,
        in_flight=profile.in_flight_grace + IN_FLIGHT_SLACK,
        shutdown=REPORT_TIMEOUT + STOP_TIMEOUT,
    )


async def run_load(
    profile: LoadProfile, options: RunOptions, progress: Callable[[Progress], None] | None = None
) -> RunResult:
    """Generate the profile's load against its URL, measure it and return everything collected.

    Raises TargetNotAllowedError before sending anything to a host that is neither loopback nor allowed,
    TargetUnreachableError when nothing could connect, WorkerFailedError when a worker dies, fails or
    passes its part of ``run_bound(profile)``.
    """
    check_target(profile.url, options.allow_hosts)
    if profile.proxy is not None:
        check_target(redact(profile.proxy), options.allow_hosts, role="proxy")
    broker = profile.flow.surface if profile.flow is not None else None
    if broker is not None and broker.url is None:  # webhook, job: requests to the service's URL
        broker = None
    steps = [] if broker is not None else _step_blocks(profile)
    for block in [broker] if broker is not None else [s.block for s in steps]:
        if block.url is not None:
            name = surface_name(block)
            role = f"{'endpoint' if name in ('websocket', 'grpc') else 'broker'} ({name})"
            check_target(mask_url(block.url), options.allow_hosts, role, SURFACE_SCHEMES[name])
    transport = choose_transport(profile, options)
    if broker is not None:
        await _probe_surface(profile, broker)
    else:
        service = (profile.flow is not None and profile.flow.surface is not None) or (
            isinstance(transport, str) and (profile.flow is None or profile.flow.uses_http)
        )
        await _check_reachable(profile, service, steps)
    placement = options.placement
    requested = placement.worker_count() if placement is not None else options.worker_count()
    n = _worker_count(profile, requested)
    specs = [_spec(profile, options, transport, k, n, in_process=requested == 0) for k in range(n)]
    handles: list[WorkerHandle] = []
    clean = False
    try:
        if placement is not None:
            handles = placement.start(specs)
        for spec in specs if placement is None else ():
            # one by one, so the finally clause stops those started before a failure
            handles.append(LocalHandle(spec) if requested == 0 else ProcessHandle(spec))
        await _wait_ready(handles)
        delay = START_DELAY_LOCAL if requested == 0 else START_DELAY_PROCESS
        delay = placement.start_delay if placement is not None else delay
        t0 = time.perf_counter() + delay
        started_at = time.time() + delay
        for handle in handles:
            handle.send(("start", t0))
        watch = _Watch(
            profile, options, t0, n, progress, tolerate_loss=bool(placement and placement.tolerate_loss)
        )
        outputs = await watch.run(handles)
        clean = True
    finally:
        # At once, so stopping n workers takes one STOP_TIMEOUT, not n.
        await asyncio.gather(*(handle.stop(force=not clean) for handle in handles))
    result = _assemble(profile, options, outputs, watch, started_at, workers=n)
    if placement is not None:
        _place(result, profile, placement, outputs, watch.lost, n)
    _raise_if_unreachable(result, profile.url, outputs)
    if watch.data_out is not None:
        raise data_ran_out(profile, *watch.data_out)
    return result


def _place(
    result: RunResult,
    profile: LoadProfile,
    placement: Placement,
    outputs: list[WorkerOutput],
    lost: dict[int, str],
    n: int,
) -> None:
    """A distributed run's per-node generator blocks and, when nodes were lost, the share that is missing."""
    phases = result.phases
    facts = RunFacts(
        late_threshold=result.generator.late_threshold_s,
        window_seconds=result.window_seconds,
        timeout=profile.timeout,
        max_connections=profile.max_connections,
        workers=1,
        duration=result.duration,
    )
    reports = {o.worker: generator_report([o], o.tallies, phases, o.windows, facts) for o in outputs}
    result.nodes = placement.nodes(reports, lost)
    if lost:
        result.missing_share = len(lost) / n
        why = "; ".join(sorted(set(lost.values())))
        result.warnings.append(
            f"{len(lost)} of {n} workers were lost with their nodes ({why}): "
            f"{result.missing_share:.1%} of the schedule is missing from every figure"
        )


def data_ran_out(profile: LoadProfile, iterations: int, at: float) -> InputError:
    """A flow's ``unique`` data ran out before its schedule ended: the test stopped there (bad input, 2)."""
    data = profile.flow.data if profile.flow is not None else None
    assert data is not None
    return InputError.single(
        f"test {profile.name!r}",
        "data.file",
        "a row for every iteration in unique mode (each row is used once)",
        f"{data.file} with {len(data.rows):,} rows: they ran out at iteration {iterations + 1:,}, "
        f"{at:.1f}s into a {profile.total_duration:g}s schedule; the test stopped there and nothing was "
        "stored",
    )


def choose_transport(profile: LoadProfile, options: RunOptions) -> str | Transport:
    """The options' choice (a name or an object) wins over the plan's; ``auto``: fast for plain HTTP/1.1."""
    if isinstance(options.transport, Transport):
        if profile.flow is not None:
            raise InputError.single(
                f"test {profile.name!r}",
                "transport",
                "fast, httpx or auto for a flow (its steps run on the engine's HTTP clients or on the "
                "surface clients they name, not on a transport object)",
                type(options.transport).__name__,
            )
        return options.transport
    choice = options.transport if options.transport != "auto" else profile.transport
    heads = profile.method == "HEAD" or (profile.flow is not None and profile.flow.uses_head)
    fast_ok = not profile.http2 and profile.proxy is None and not heads
    if choice == "auto":
        return "fast" if fast_ok else "httpx"
    if choice == "fast" and not fast_ok:
        raise InputError.single(
            f"test {profile.name!r}",
            "transport",
            "httpx or auto for HTTP/2, a proxy or HEAD (the fast transport speaks HTTP/1.1 directly)",
            "fast",
        )
    return choice


def _step_blocks(profile: LoadProfile) -> list[StepBlock]:
    return profile.flow.step_blocks() if profile.flow is not None else []


def _worker_count(profile: LoadProfile, requested: int) -> int:
    """Never more workers than there is work: VUs for a closed model, arrivals for an open one. A broker
    surface runs in one worker: its service's output is one stream, correlated in one place."""
    if profile.flow is not None and (profile.flow.surface is not None or _step_blocks(profile)):
        return 1
    if profile.model == "closed":
        units = math.ceil(profile.executor.peak() - 1e-9)
    else:
        units = ArrivalSchedule(profile.executor.rate_segments()).total
    return max(1, min(max(requested, 1), units))


def _spec(
    profile: LoadProfile, options: RunOptions, transport: str | Transport, k: int, n: int, *, in_process: bool
) -> WorkerSpec:
    peak_share = profile.executor.peak() / n
    connections = math.ceil(profile.max_connections / n)
    stress_phases = tuple(i for i, p in enumerate(profile.phases) if p.name.startswith("step-"))
    return WorkerSpec(
        profile=profile,
        transport=transport,
        worker=k,
        workers=n,
        max_connections=connections,
        queue_limit=max(MIN_QUEUE, math.ceil(peak_share * profile.timeout)),
        warm_connections=min(connections, MAX_WARM, max(2, math.ceil(peak_share * WARM_SECONDS))),
        sample_budget=options.sample_budget // n,
        window_seconds=options.window_seconds,
        late_threshold=options.late_threshold_s,
        progress_interval=options.progress_interval,
        stress_phases=stress_phases if profile.stress is not None else (),
        in_process=in_process,
    )


async def _check_reachable(profile: LoadProfile, service: bool, steps: Sequence[StepBlock]) -> None:
    """Before a flow's load (or a plain test's): the service's URL when something calls it, and every
    step's broker or endpoint, all at once so that the wait stays one probe's; the first failure in that
    order (the service, then the steps in order) is the one raised."""
    checks: list[Coroutine[Any, Any, None]] = [_preflight(profile)] if service else []
    for step in steps:
        block = step.block
        if block.url is None and isinstance(block, WebSocketSurface):
            block = block.resolved(profile.url)  # on the service's host, as the step's hub connects
        if block.url is not None:
            checks.append(_probe_surface(profile, block, step=step.index))
    for failure in await asyncio.gather(*checks, return_exceptions=True):
        if isinstance(failure, BaseException):
            raise failure


async def _probe_surface(profile: LoadProfile, broker: SurfaceBlock, step: int | None = None) -> None:
    """Connect to the broker once before the worker starts: refused or silent is an unreachable target (3),
    a queue or stream the test reads that is not there is bad input (2). A flow step's is named by its
    place in the flow (``flow[1].amqp.consume.queue``)."""
    name = surface_name(broker)
    shown = mask_url(broker.url or "")
    wait = min(profile.timeout, PREFLIGHT_TIMEOUT)
    where = f"flow[{step}]." if step is not None else ""
    try:
        await asyncio.wait_for(probe(broker, wait, profile.tls), timeout=wait + 1.0)
    except LookupError as exc:
        field, missing = exc.args
        raise InputError.single(
            f"test {profile.name!r}",
            where + field,
            f"a {'queue' if name == 'amqp' else 'stream or consumer'} that exists on the broker {shown}",
            repr(missing),
        ) from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        reason = str(exc) or "no answer"
        what = "endpoint" if name in ("websocket", "grpc") else "broker"
        of = f" of step {_step_label(profile, step)}" if step is not None else ""
        raise TargetUnreachableError(f"{what} {shown} ({name}){of}: cannot connect ({reason})") from None


def _step_label(profile: LoadProfile, index: int) -> str:
    """``flow[1] 'booked-event'``: where the step is written and its name (or its default)."""
    assert profile.flow is not None
    return f"flow[{index}] {profile.flow.step_names[index] or f'step-{index + 1}'!r}"


async def _preflight(profile: LoadProfile) -> None:
    """One connect (and TLS handshake) before any worker starts, so a dead target, or one whose certificate
    this client refuses, fails in a second, not after the run. Through a proxy, the proxy is what is tried.
    Both steps together take at most min(timeout, PREFLIGHT_TIMEOUT)."""
    target = Target.from_url(profile.proxy or profile.url)
    what = (
        f"proxy {redact(profile.proxy)} of target {profile.url}" if profile.proxy else f"target {profile.url}"
    )
    wait = min(profile.timeout, PREFLIGHT_TIMEOUT)
    deadline = time.monotonic() + wait
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), timeout=wait)
    except ConnectionRefusedError:
        raise TargetUnreachableError(
            f"{what}: connection refused: nothing listens on {target.host}:{target.port}; "
            "is the service running?"
        ) from None
    except (TimeoutError, OSError) as exc:
        reason = str(exc) or "no answer"
        raise TargetUnreachableError(
            f"{what}: cannot connect to {target.host}:{target.port} ({reason})"
        ) from None
    try:
        if profile.tls is not None and profile.proxy is None:
            left = max(0.05, deadline - time.monotonic())
            await asyncio.wait_for(_handshake(writer, profile.tls, target, left, profile.http2), timeout=left)
    except (ssl.SSLError, ssl.CertificateError, TimeoutError, OSError) as exc:
        writer.transport.abort()
        reason = failure_reason(exc)
        raise TargetUnreachableError(f"{what}: TLS handshake failed: {reason} — {fix_for(reason)}") from None
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()


async def _handshake(
    writer: asyncio.StreamWriter, tls: TlsOptions, target: Target, wait: float, http2: bool
) -> None:
    context = client_context(tls, alpn=["h2", "http/1.1"] if http2 else ["http/1.1"])
    server_name = tls.server_name or target.host
    await writer.start_tls(context, server_hostname=server_name, ssl_handshake_timeout=wait)


async def _wait_ready(handles: Sequence[WorkerHandle]) -> None:
    waiting = {h.worker for h in handles}
    limit = time.monotonic() + READY_TIMEOUT
    while waiting:
        for handle in handles:
            if handle.worker not in waiting:
                continue
            for message in handle.poll():
                if message[0] == "ready":
                    waiting.discard(handle.worker)
                elif message[0] == "error":
                    raise WorkerFailedError(
                        f"load worker {handle.worker} failed to start: {_last_line(message[1])}"
                    )
            if handle.worker in waiting and not handle.alive():
                raise WorkerFailedError(
                    f"load worker {handle.worker} died while starting: {handle.describe_exit()}"
                )
        if waiting and time.monotonic() > limit:
            raise WorkerFailedError(
                f"load workers {sorted(waiting)} were not ready within {READY_TIMEOUT:g}s of being started"
            )
        if waiting:
            await asyncio.sleep(0.01)


def _last_line(text: object) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


@dataclass
class _Watch:
    """The parent's loop while workers run: progress, stress stop decisions, dead or stuck workers."""

    profile: LoadProfile
    options: RunOptions
    t0: float
    workers: int
    progress: Callable[[Progress], None] | None
    tolerate_loss: bool = False  # a distributed run with --tolerate-node-loss
    lost: dict[int, str] = field(default_factory=dict)  # workers lost with their node: why
    stopped_at: float | None = None  # seconds from t0 when a stress step broke
    data_out: tuple[int, float] | None = None  # a worker's unique data ran out: (iteration, seconds from t0)
    _parts: dict[int, dict[int, ProgressPart]] = field(default_factory=dict)
    _latest: dict[int, ProgressPart] = field(default_factory=dict)
    _emitted: int = 0
    _steps: dict[tuple[int, int], StepReport] = field(default_factory=dict)
    _changed: set[int] = field(default_factory=set)  # steps with news since they were last judged

    async def run(self, handles: Sequence[WorkerHandle]) -> list[WorkerOutput]:
        outputs: dict[int, WorkerOutput] = {}
        bound = run_bound(self.profile)
        deadline = self.t0 + bound.schedule + bound.in_flight + REPORT_TIMEOUT
        while len(outputs) + len(self.lost) < len(handles):
            await asyncio.sleep(POLL)
            for handle in handles:
                if handle.worker in outputs or handle.worker in self.lost:
                    continue
                for message in handle.poll():
                    self._handle(handle.worker, message, outputs)
                if handle.worker not in outputs and not handle.alive():
                    for message in handle.poll():
                        self._handle(handle.worker, message, outputs)
                    if handle.worker not in outputs and self.tolerate_loss:
                        self.lost[handle.worker] = handle.describe_exit()
                    elif handle.worker not in outputs:
                        raise WorkerFailedError(
                            f"load worker {handle.worker} stopped before finishing "
                            f"({handle.describe_exit()}); "
                            "its share of the load is missing, so the run has no valid result"
                        )
            self._emit_progress(done=set(outputs) | set(self.lost))
            if self.data_out is not None and self.stopped_at is None:
                now = time.perf_counter()
                self.stopped_at = now - self.t0
                for handle in handles:
                    handle.send(("stop", now))
            if self.stopped_at is None and self._a_step_broke():
                now = time.perf_counter()
                self.stopped_at = now - self.t0
                for handle in handles:
                    handle.send(("stop", now))
            if time.perf_counter() > deadline and len(outputs) + len(self.lost) < len(handles):
                stuck = sorted({h.worker for h in handles} - set(outputs) - set(self.lost))
                if self.tolerate_loss and len(stuck) < len(handles):
                    for handle in handles:
                        if handle.worker in stuck:
                            self.lost[handle.worker] = (
                                f"{handle.describe_exit()}: hung, abandoned at the run's bound"
                            )
                    break
                raise WorkerFailedError(
                    f"load workers {stuck} hung: no result {REPORT_TIMEOUT:g}s after the schedule "
                    f"({bound.schedule:g}s) and the request timeout ({self.profile.timeout:g}s) had passed"
                )
        if not outputs:
            why = "; ".join(sorted(set(self.lost.values())))
            raise WorkerFailedError(f"every load worker was lost ({why}): the run has no result")
        return [outputs[k] for k in sorted(outputs)]

    def _handle(self, worker: int, message: tuple[object, ...], outputs: dict[int, WorkerOutput]) -> None:
        kind = message[0]
        if kind == "done":
            output = message[1]
            assert isinstance(output, WorkerOutput)
            outputs[worker] = output
        elif kind == "error":
            raise WorkerFailedError(f"load worker {worker} failed: {_last_line(message[1])}")
        elif kind == "progress":
            part = message[1]
            assert isinstance(part, ProgressPart)
            self._parts.setdefault(part.seq, {})[worker] = part
            self._latest[worker] = part
        elif kind == "data-out":
            found = message[1]
            assert isinstance(found, tuple)
            if self.data_out is None or found[1] < self.data_out[1]:
                self.data_out = (int(found[0]), float(found[1]))
        elif kind == "step":
            report = message[1]
            assert isinstance(report, StepReport)
            self._steps[(report.phase, worker)] = report
            self._changed.add(report.phase)

    # -- progress ------------------------------------------------------------------------------------------
    def _emit_progress(self, done: set[int]) -> None:
        """Emit interval ``seq`` once every worker still running has reported it."""
        if self.progress is None:
            self._parts.clear()
            return
        running = set(range(self.workers)) - done
        while True:
            seq = self._emitted + 1
            parts = self._parts.get(seq)
            if not parts or not running <= set(parts):
                return
            self._emitted = seq
            del self._parts[seq]
            self.progress(self._merge_progress(seq, parts))

    def _merge_progress(self, seq: int, parts: dict[int, ProgressPart]) -> Progress:
        elapsed = min(seq * self.options.progress_interval, self.profile.total_duration)
        seconds = max(p.seconds for p in parts.values())
        latest = {**self._latest, **parts}
        latency = LatencyHistogram()
        for part in parts.values():
            latency.merge(part.latency)
        p95 = latency.quantile(0.95)
        phases = self.profile.phases
        current = next((p.name for p in phases if p.start <= elapsed < p.end), phases[-1].name)
        return Progress(
            elapsed=elapsed,
            remaining=max(0.0, self.profile.total_duration - elapsed),
            phase=current,
            rps=sum(p.responses for p in parts.values()) / seconds,
            p95_ms=None if p95 is None else p95 * 1000.0,
            errors=sum(p.errors for p in latest.values()),
            requests=sum(p.requests for p in latest.values()),
            in_flight=sum(p.in_flight for p in parts.values()),
            late_starts=sum(p.late for p in latest.values()),
        )

    # -- stress --------------------------------------------------------------------------------------------
    def _a_step_broke(self) -> bool:
        rule = self.profile.stress
        if rule is None or not self._changed:
            return False
        phases = self.profile.phases
        changed, self._changed = sorted(self._changed), set()
        for index in changed:
            reports = [self._steps.get((index, w)) for w in range(self.workers)]
            if any(r is None for r in reports):
                continue
            present = [r for r in reports if r is not None]
            if broken_reasons(_live_facts(phases[index], present, self.profile.timeout), rule):
                return True
        return False


def _live_facts(phase: Phase, reports: list[StepReport], timeout: float) -> StepFacts:
    return facts_from(
        phase.target_rps or 0.0,
        phase.end - phase.start,
        requests=sum(r.requests for r in reports),
        errors=sum(r.errors for r in reports),
        responses=sum(r.responses for r in reports),
        latencies=[r.latency for r in reports],
        slow=[a for r in reports for a in r.ages] + [timeout] * sum(r.timeouts for r in reports),
    )


def _stress_steps(
    phases: list[Phase], tallies: list[PhaseTally], rule: StressRule, timeout: float, stopped_at: float | None
) -> tuple[list[dict[str, object]], int | None]:
    """Final per-step facts up to the first broken step, and that step's phase index."""
    steps: list[dict[str, object]] = []
    for index, phase in enumerate(phases):
        if not phase.name.startswith("step-"):
            continue
        if stopped_at is not None and phase.end > stopped_at + 1e-9:
            break  # cut short by the stop: not a full step
        tally = tallies[index]
        facts = facts_from(
            phase.target_rps or 0.0,
            phase.end - phase.start,
            requests=tally.requests,
            errors=tally.errors,
            responses=tally.responses,
            latencies=[tally.latency],
            slow=[timeout] * tally.outcomes.get(int(Outcome.TIMEOUT), 0),
        )
        record = step_record(facts, rule)
        steps.append(record)
        if not record["held"]:
            return steps, index
    return steps, None


def _assemble(
    profile: LoadProfile,
    options: RunOptions,
    outputs: list[WorkerOutput],
    watch: _Watch,
    started_at: float,
    workers: int,
) -> RunResult:
    phases = profile.phases
    duration = profile.total_duration
    tallies = merge_tallies(outputs)
    extra: dict[str, object] = {"testType": profile.test_type, "profile": profile.describe()}
    if profile.soak_window is not None:
        extra["window"] = profile.soak_window
    if profile.stress is not None:
        steps, broken = _stress_steps(phases, tallies, profile.stress, profile.timeout, watch.stopped_at)
        extra["stress"] = steps
        phases = _trim_after(phases, broken, watch.stopped_at)
        if watch.stopped_at is not None:
            duration = min(duration, watch.stopped_at)
    facts = RunFacts(
        late_threshold=options.late_threshold_s,
        window_seconds=options.window_seconds,
        timeout=profile.timeout,
        max_connections=profile.max_connections,
        workers=workers,
        duration=duration,
        tls=profile.tls is not None,
    )
    windows = merge_windows(outputs, options.window_seconds, duration)
    samples, complete = merged_samples(outputs)
    flow_steps = merged_steps(profile, outputs)
    return RunResult(
        target=profile.url,
        phases=phases,
        samples=samples,
        complete=complete,
        windows=windows,
        window_seconds=options.window_seconds,
        generator=generator_report(outputs, tallies, phases, windows, facts),
        sample_budget=options.sample_budget,
        started_at=started_at,
        duration=duration,
        timed_from="actual-send" if profile.model == "closed" else "intended-start",
        variants=list(profile.payload_sizes),
        warnings=[
            *tls_warnings(outputs, insecure=bool(profile.tls and profile.tls.insecure_skip_verify)),
            *shortfall_warnings(outputs, tallies[: len(phases)], facts),
            *client_warnings(outputs),
        ],
        extra=extra,
        steps=flow_steps if profile.flow is None or profile.flow.surface is None else [],
        surface=next((o.surface for o in outputs if o.surface is not None), None),
        traced=sorted((item for output in outputs for item in output.traced), key=lambda item: item[1]),
    )


def _trim_after(phases: list[Phase], broken: int | None, stopped_at: float | None) -> list[Phase]:
    """Steps after the breaking one are not measured; what the stop cut short ends at the stop."""
    out = []
    for index, phase in enumerate(phases):
        if stopped_at is not None and phase.start >= stopped_at - 1e-9:
            break
        if broken is not None and index > broken:
            phase.measured = False
        if stopped_at is not None and phase.end > stopped_at:
            phase.end = stopped_at
            phase.measured = False
        out.append(phase)
    return out


def _raise_if_unreachable(result: RunResult, url: str, outputs: list[WorkerOutput]) -> None:
    requests = sum(o.requests for o in outputs)
    responses = sum(o.responses for o in outputs)
    failures = sum(o.connect_failures for o in outputs)
    if requests and not responses and failures == requests:
        counts = {
            OUTCOME_NAMES[o]: sum(w.outcomes.get(o, 0) for w in result.windows)
            for o in (Outcome.CONNECT_REFUSED, Outcome.CONNECT_ERROR, Outcome.TLS)
        }
        how = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        lead = f"target {url}: no request got a response; all {requests} attempts"
        handshakes = tls_failures(outputs)
        if counts["tls"] == requests and handshakes:
            raise TargetUnreachableError(f"{lead} failed the TLS handshake: {describe_failures(handshakes)}")
        message = f"{lead} failed to connect ({how})"
        if handshakes:
            message += f"; TLS: {describe_failures(handshakes)}"
        raise TargetUnreachableError(message)
