"""build_profile: one plan test (spec cycles 2 and 7) → a LoadProfile, with every default of its test type."""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import ValidationError

from sk_loadagent.engine._caps import check_caps, check_holds_a_request, machine_caps
from sk_loadagent.engine._executors import (
    ConstantArrivalRate,
    ConstantVUs,
    ExecutorBase,
    RampingArrivalRate,
    RampingVUs,
    Stage,
)
from sk_loadagent.engine._flow import (
    CompiledFlow,
    DataTable,
    FlowBuildError,
    FlowPlan,
    IterationState,
    MissingValue,
    compile_flow,
    parse_data,
)
from sk_loadagent.engine._profile import LoadProfile, StressRule
from sk_loadagent.engine._proxy import environment_proxy
from sk_loadagent.engine._schedule import ArrivalSchedule
from sk_loadagent.engine._stress import plan_search, probes_needed
from sk_loadagent.engine._tls import TlsOptionError, check_options
from sk_loadagent.engine.clients._surfaces import require_surface, surface_name
from sk_loadagent.errors import InputError
from sk_loadagent.models._base import FieldProblem
from sk_loadagent.models.caps import Caps
from sk_loadagent.models.durations import format_duration
from sk_loadagent.models.flow import StepSpec, referenced_columns, surface_ref_fits
from sk_loadagent.models.loading import problems_from, read_text
from sk_loadagent.models.plan import TestSpec, TlsOptions, check_base_url, check_endpoint
from sk_loadagent.models.surfaces import GrpcSurface, SurfaceBlock, WebSocketSurface, message_template
from sk_loadagent.secrets import mask_url, register

DEFAULT_TIMEOUT = 10.0
DEFAULT_PAYLOAD_SIZES = (0, 1024, 16384, 131072)
DEFAULT_LATENCY_RPS = 20.0
DEFAULT_STEP_DURATION = 10.0
DEFAULT_ERROR_CEILING = 0.05
SPIKE_JUMP_SECONDS = 1.0
MAX_STRESS_STEPS = 1000
MAX_DEFAULT_CONNECTIONS = 10_000
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_COMPUTED_HEADERS = {"content-length", "transfer-encoding"}


@dataclass(frozen=True)
class _Context:
    test: TestSpec
    source: str
    execution_window: float | None
    slo_p95_ms: float | None
    slo_error_rate: float | None

    def fail(self, field: str, expected: str, got: str | None = None) -> InputError:
        return InputError.single(self.source, field, expected, got)


@dataclass
class _Shape:
    executor: ExecutorBase
    stress: StressRule | None = None
    soak_window: float | None = None
    payload_sizes: tuple[int, ...] = ()


def build_profile(
    test: TestSpec,
    *,
    base_url: str,
    method: str | None = None,
    headers: dict[str, str] | None = None,
    execution_window: float | None = None,
    slo_p95_ms: float | None = None,
    slo_error_rate: float | None = None,
    caps: Caps | None = None,
    proxy: str | None = None,
) -> LoadProfile:
    """Turn one plan test into a validated LoadProfile; bad input raises InputError naming the field.

    ``method`` is the default when the test sets none (else GET, or POST when the test has a body or payload
    sizes); ``headers`` are defaults the test's own headers override; ``execution_window`` bounds a soak test
    without a duration; ``slo_*`` tell a stress test when a step has broken. A profile over ``caps``
    (default: ``machine_caps()``) is refused, and so is one whose measured phases hold no request.
    ``proxy`` (the plan's) wins over the environment's (see ``_proxy``). An https:// URL gets the test's
    ``tls`` options, checked here: a missing file or a key that does not match its certificate fails before
    any load.
    """
    caps = caps if caps is not None else machine_caps()
    ctx = _Context(test, f"test {test.label()!r}", execution_window, slo_p95_ms, slo_error_rate)
    try:
        base = check_base_url(base_url)
    except ValueError as exc:
        raise ctx.fail("baseUrl", str(exc), repr(mask_url(base_url))) from None
    # Credentials in the URL are sent as Basic authorization (as httpx would) and leave the URL, which
    # error messages and artifacts show.
    base, basic = _split_credentials(base)
    endpoint = test.endpoint if test.flow is None and test.surface_block() is None else None
    try:
        url = base + (check_endpoint(endpoint) if endpoint else "")
    except ValueError as exc:
        raise ctx.fail("endpoint", str(exc), repr(test.endpoint)) from None
    try:
        shape = _BUILDERS[test.type](ctx)
    except ValidationError as exc:
        raise InputError(ctx.source, problems_from(exc)) from None
    defaults = dict(headers or {})
    if basic is not None and not any(k.lower() == "authorization" for k in {**defaults, **test.headers}):
        defaults["Authorization"] = basic
    body, merged_headers = _body_and_headers(ctx, defaults)
    flow = _flow(ctx, shape, merged_headers, caps) if test.flow is not None else _surface_flow(ctx, base)
    chosen = (
        None
        if flow is not None
        else (test.method or (method.upper() if method else None))
        or ("POST" if body is not None or shape.payload_sizes else "GET")
    )
    via = proxy or environment_proxy(url)
    _check_transport(ctx, url, via)
    try:
        profile = LoadProfile(
            test_type=test.type,
            name=test.label(),
            url=url,
            method=chosen,
            headers=merged_headers if flow is None else {},
            body=body,
            payload_sizes=list(shape.payload_sizes),
            executor=shape.executor,
            timeout=_timeout(ctx),
            expect_status=test.expect_status,
            max_connections=_max_connections(ctx, shape.executor, caps.connections),
            transport=test.transport or "auto",
            http2=bool(test.http2),
            tls=_tls(ctx, url),
            proxy=via,
            stress=shape.stress,
            soak_window=shape.soak_window,
            flow=flow,
        )
    except ValidationError as exc:
        raise InputError(ctx.source, problems_from(exc)) from None
    problems = check_holds_a_request(profile, test) + check_caps(profile, test, caps)
    if problems:
        raise InputError(ctx.source, problems)
    return profile


def _split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without ``user:password@``, and the Basic authorization those credentials make."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    register([password or user])
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    register([token])
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), f"Basic {token}"


def _flow(ctx: _Context, shape: _Shape, headers: dict[str, str], caps: Caps) -> FlowPlan:
    """The flow of a test, its data file read and checked, compiled once here so that an unset environment
    variable or a client class that cannot be imported fails before any load."""
    test = ctx.test
    assert test.flow is not None
    table = _data(ctx, caps) if test.data is not None else None
    plan = FlowPlan(
        steps=tuple(test.flow),
        data=table,
        headers=tuple(headers.items()),
        think_time=test.think_time or 0.0,
    )
    try:
        compiled = compile_flow(plan)
    except FlowBuildError as exc:
        raise ctx.fail(exc.field, exc.expected, exc.got) from None
    _check_step_surfaces(ctx, plan, compiled)
    if table is not None and table.mode == "unique" and shape.executor.model == "open":
        planned = ArrivalSchedule(shape.executor.rate_segments()).total
        if planned > len(table.rows):
            raise ctx.fail(
                "data.file",
                f"a row for each of the {planned:,} iterations the schedule starts (unique mode uses each "
                "row once)",
                f"{table.file} with {len(table.rows):,} row{'s' if len(table.rows) != 1 else ''}",
            )
    return plan


def _check_step_surfaces(ctx: _Context, plan: FlowPlan, compiled: CompiledFlow) -> None:
    """Each step on a built-in surface is checked as a surface test is: its library installed, its URL's
    password a secret and, for gRPC, its proto, method and request (the request as the first iteration
    renders it, unless it holds a value an earlier step extracts)."""
    for step in plan.step_blocks():
        name = surface_name(step.block)
        _check_surface_block(ctx, step.block, f"flow[{step.index}].surface")
        if isinstance(step.block, GrpcSurface):
            first = IterationState(0, 0, plan.data.rows[0] if plan.data is not None else ())
            try:
                request: dict[str, object] | None = compiled.steps[step.index].call(first).params
            except MissingValue:
                request = None
            _check_grpc(ctx, step.block, request, f"flow[{step.index}].{name}")


def _check_surface_block(ctx: _Context, block: SurfaceBlock, field: str) -> None:
    """The surface's library is installed (else bad input at ``field``, naming the pip command), and the
    password of its URL is a secret: masked in every artifact, like a base URL's."""
    try:
        require_surface(surface_name(block), ctx.source)
    except InputError as exc:
        raise ctx.fail(field, exc.problems[0].expected, "not installed") from None
    password = urlsplit(block.url).password if block.url else None
    if password:
        register([password])


def _surface_flow(ctx: _Context, base_url: str) -> FlowPlan | None:
    """A built-in surface's test as a flow of one step (a message each), its library checked installed and
    its message's references checked (``${uuid}``, ``${iteration}``, ``${vu}`` and ``${env:NAME}``); a
    WebSocket block without a URL gets the base URL's host."""
    test = ctx.test
    block = test.surface_block()
    if block is None:
        return None
    name = str(test.surface)
    if isinstance(block, WebSocketSurface):
        block = block.resolved(base_url)
    _check_surface_block(ctx, block, "surface")
    params, inside = message_template(block)
    where = f"{name}.{inside}" if inside else name
    step = StepSpec.model_construct(
        name=name,
        request=None,
        surface=name,
        params=params,
        extract=None,
        check=None,
        think_time=None,
        on_fail="stop",
    )
    try:
        references = step.references()
    except FieldProblem as exc:
        raise ctx.fail(where + exc.field.removeprefix("params"), exc.expected, exc.got) from None
    for field, ref in references:
        shown = where + field.removeprefix("params")
        if ref.kind in ("var", "data"):
            raise ctx.fail(
                shown,
                "${uuid}, ${iteration}, ${vu} or ${env:NAME} (a surface test has no steps to extract from, "
                "nor a data file)",
                ref.text,
            )
        if ref.kind == "surface" and not _surface_ref_fits(ref.name, name, field):
            owner = "a webhook test's trigger" if ref.name == "webhook.url" else "a job test's poll.path"
            raise ctx.fail(shown, f"{ref.text} only in {owner}", ref.text)
    plan = FlowPlan(steps=(step,), think_time=test.think_time or 0.0, surface=block)
    try:
        flow = compile_flow(plan)
    except FlowBuildError as exc:
        raise ctx.fail(where + exc.field.removeprefix("flow[0].params"), exc.expected, exc.got) from None
    if isinstance(block, GrpcSurface):
        _check_grpc(ctx, block, flow.steps[0].call(IterationState(0, 0, ())).params, "grpc")
    return plan


def _check_grpc(ctx: _Context, block: GrpcSurface, request: dict[str, object] | None, where: str) -> None:
    """The proto compiles, defines the method, and the request (as the first call renders it; None: it
    cannot be rendered before the run) fits. ``where``: the block's field (``grpc``, ``flow[1].grpc``)."""
    from sk_loadagent.engine.clients._grpc import ProtoError, load_method, request_message

    try:
        method = load_method(block)
    except ProtoError as exc:
        raise ctx.fail(f"{where}.{exc.field}", exc.expected, exc.got) from None
    if request is None:
        return
    try:
        request_message(method, request)
    except ValueError as exc:
        name = method.request.DESCRIPTOR.full_name
        raise ctx.fail(f"{where}.request", f"the fields of {name} ({exc})", None) from None


def _surface_ref_fits(ref: str, surface: str, field: str) -> bool:
    return surface_ref_fits(ref, surface, field.removeprefix("params"))


def _data(ctx: _Context, caps: Caps) -> DataTable:
    data = ctx.test.data
    assert data is not None
    assert ctx.test.flow is not None
    try:
        text = read_text(data.file, caps=caps)
    except InputError as exc:
        problem = exc.problems[0]
        raise ctx.fail(
            "data.file", f"a CSV file ({problem.expected})", f"{data.file} ({problem.got})"
        ) from None
    try:
        return parse_data(text, file=data.file, mode=data.mode, needed=referenced_columns(ctx.test.flow))
    except FlowBuildError as exc:
        raise ctx.fail(exc.field, exc.expected, exc.got) from None


def _timeout(ctx: _Context) -> float:
    timeout = ctx.test.timeout if ctx.test.timeout is not None else DEFAULT_TIMEOUT
    if timeout <= 0:
        raise ctx.fail("timeout", "a duration greater than 0, such as 10s", f"{timeout:g}s")
    return timeout


def _max_connections(ctx: _Context, executor: ExecutorBase, cap: int | None) -> int:
    """The VUs of a closed model; the plan's maxConnections, else enough for twice the peak's requests in
    flight at the timeout, within ``MAX_DEFAULT_CONNECTIONS`` and the connection cap (a default never
    exceeds a cap; a value the plan sets is checked against it with the other caps)."""
    peak = executor.peak()
    if executor.model == "closed":
        vus = math.ceil(peak - 1e-9)
        if ctx.test.max_connections is not None and ctx.test.max_connections < vus:
            raise ctx.fail("maxConnections", f"at least {vus} (each VU keeps its own connection)")
        return vus
    if ctx.test.max_connections is not None:
        return ctx.test.max_connections
    wanted = math.ceil(2 * peak * _timeout(ctx))
    default = max(64, min(wanted, MAX_DEFAULT_CONNECTIONS))
    return default if cap is None else min(default, cap)


def _check_transport(ctx: _Context, url: str, proxy: str | None) -> None:
    if ctx.test.http2 and importlib.util.find_spec("h2") is None:
        raise ctx.fail(
            "http2",
            "the optional h2 package for HTTP/2: pip install 'sk-loadagent[http2]'",
            "h2 is not installed",
        )
    if ctx.test.transport == "fast" and (ctx.test.http2 or proxy is not None):
        raise ctx.fail(
            "transport",
            "httpx or auto for HTTP/2 or through a proxy (the fast transport speaks HTTP/1.1 directly)",
        )


def _tls(ctx: _Context, url: str) -> TlsOptions | None:
    """The test's TLS options for an https:// URL (none for http://), after checking their files."""
    if not url.startswith("https://"):
        return None
    options = ctx.test.tls or TlsOptions()
    try:
        check_options(options)
    except TlsOptionError as exc:
        raise ctx.fail(f"tls.{exc.field}", exc.expected, exc.got) from None
    return options


def _body_and_headers(ctx: _Context, defaults: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    merged = {**defaults, **ctx.test.headers}
    for name, value in merged.items():
        if not _TOKEN.match(name):
            raise ctx.fail(f"headers.{name}", "a header name made of letters, digits and -", repr(name))
        if "\r" in value or "\n" in value:
            raise ctx.fail(f"headers.{name}", "a header value on one line", repr(value))
        if any(ord(c) > 255 or (ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
            raise ctx.fail(
                f"headers.{name}",
                "a header value in ISO-8859-1 (latin-1) without control characters; percent- or "
                "base64-encode other text",
                repr(value),
            )
        if name.lower() in _COMPUTED_HEADERS:
            raise ctx.fail(
                f"headers.{name}", "no Content-Length or Transfer-Encoding (computed from the body)"
            )
    body = ctx.test.body
    if body is None:
        return None, merged
    if isinstance(body, str):
        return body, merged
    if not any(name.lower() == "content-type" for name in merged):
        merged["Content-Type"] = "application/json"
    return json.dumps(body, separators=(",", ":")), merged


def _required(ctx: _Context, value: float | None, field: str, expected: str) -> float:
    if value is None:
        raise ctx.fail(field, expected)
    return value


def _ramp_stages(ctx: _Context, rate: float, hold: float) -> list[Stage]:
    """Ramp-up (default min(30 s, 10 % of the hold), not measured) and warm-up (default 0, not measured)."""
    test = ctx.test
    ramp = test.ramp_up if test.ramp_up is not None else min(30.0, 0.1 * hold)
    warmup = test.warmup or 0.0
    stages = []
    if ramp > 0:
        stages.append(Stage(duration=ramp, target=rate, start=0.0, phase="ramp-up", measured=False))
    if warmup > 0:
        stages.append(Stage(duration=warmup, target=rate, start=rate, phase="warmup", measured=False))
    return stages


def _steady(rate: float, duration: float, lead: list[Stage]) -> ExecutorBase:
    if not lead:
        return ConstantArrivalRate(rate=rate, duration=duration)
    hold = Stage(duration=duration, target=rate, start=rate, phase="steady")
    return RampingArrivalRate(stages=[*lead, hold])


def _load(ctx: _Context) -> _Shape:
    rate = _required(ctx, ctx.test.rps, "rps", "the target requests per second")
    duration = _required(ctx, ctx.test.duration, "duration", "a duration such as 30s or 5m")
    return _Shape(_steady(rate, duration, _ramp_stages(ctx, rate, duration)))


def _soak(ctx: _Context) -> _Shape:
    test = ctx.test
    rate = _required(ctx, test.rps, "rps", "the target requests per second")
    if test.duration is not None:
        hold = test.duration
        lead = _ramp_stages(ctx, rate, hold)
    elif ctx.execution_window is not None and ctx.execution_window > 0:
        # The plan's executionWindow bounds the whole run, so ramp-up and warm-up come out of it.
        lead = _ramp_stages(ctx, rate, ctx.execution_window)
        hold = ctx.execution_window - sum(s.duration for s in lead)
        if hold <= 0:
            raise ctx.fail("rampUp", "a ramp-up and warm-up shorter than the plan's executionWindow")
    else:
        raise ctx.fail(
            "duration", "a duration such as 1h, or the plan's executionWindow (a soak test needs one)"
        )
    window = test.window if test.window is not None else max(1.0, hold / 10)
    return _Shape(_steady(rate, hold, lead), soak_window=window)


def _spike(ctx: _Context) -> _Shape:
    test = ctx.test
    rate = _required(ctx, test.rps, "rps", "the spike's requests per second")
    duration = _required(ctx, test.duration, "duration", "a duration such as 30s or 5m")
    baseline = test.baseline_rps
    if baseline is None:
        baseline = max(1.0, 0.1 * rate)
        baseline = baseline if baseline < rate else 0.1 * rate
    baseline_for = (
        test.baseline_duration if test.baseline_duration is not None else min(10.0, 0.25 * duration)
    )
    recovery_for = test.recovery_window if test.recovery_window is not None else baseline_for
    stages = []
    if baseline_for > 0:
        stages.append(
            Stage(duration=baseline_for, target=baseline, start=baseline, phase="baseline", measured=False)
        )
    stages.append(Stage(duration=SPIKE_JUMP_SECONDS, target=rate, start=baseline, phase="spike"))
    stages.append(Stage(duration=duration, target=rate, phase="spike"))
    if recovery_for > 0:
        stages.append(Stage(duration=recovery_for, target=baseline, start=baseline, phase="recovery"))
    return _Shape(RampingArrivalRate(start_rate=baseline, stages=stages))


def _stress(ctx: _Context) -> _Shape:
    test = ctx.test
    design = test.rps
    top = test.max_rps if test.max_rps is not None else 2 * _required(ctx, design, "rps", "the design limit")
    default_step = 0.25 * design if design is not None else top / 8
    start = test.start_rps if test.start_rps is not None else default_step
    step = test.step_rps if test.step_rps is not None else default_step
    if start > top:
        raise ctx.fail("startRps", f"a rate not above maxRps ({top:g})", f"{start:g}")
    if (top - start) / step + 1 > MAX_STRESS_STEPS:
        raise ctx.fail(
            "stepRps", f"a step that reaches maxRps in at most {MAX_STRESS_STEPS} steps", f"{step:g}"
        )
    rates = []
    level = start
    while level < top * (1 - 1e-9):
        rates.append(level)
        level += step
    rates.append(top)
    try:
        search = plan_search(
            len(rates),
            probes_needed(start, step),
            lead=test.ramp_up or 0.0,
            step_seconds=test.step_duration,
            duration=test.duration,
            default_step_seconds=DEFAULT_STEP_DURATION,
        )
    except ValueError as exc:  # only a given duration can be too short
        raise ctx.fail("duration", str(exc), format_duration(test.duration or 0.0)) from None
    stages = []
    if test.ramp_up:
        stages.append(
            Stage(duration=test.ramp_up, target=rates[0], start=0.0, phase="ramp-up", measured=False)
        )
    stages += [
        Stage(duration=search.step_seconds, target=r, start=r, phase=f"step-{i}")
        for i, r in enumerate(rates, start=1)
    ]
    ceiling = test.error_ceiling or ctx.slo_error_rate or DEFAULT_ERROR_CEILING
    rule = StressRule(
        slo_p95_ms=ctx.slo_p95_ms,
        error_ceiling=ceiling,
        probe_seconds=search.probe_seconds,
        budget_seconds=search.budget_seconds,
    )
    return _Shape(RampingArrivalRate(stages=stages), stress=rule)


def _concurrency(ctx: _Context) -> _Shape:
    test = ctx.test
    vus = int(_required(ctx, test.vus, "vus", "the number of concurrent sessions"))
    duration = _required(ctx, test.duration, "duration", "a duration such as 30s or 5m")
    think = test.think_time or 0.0
    stages = []
    if test.ramp_up:
        stages.append(Stage(duration=test.ramp_up, target=vus, start=0.0, phase="ramp-up", measured=False))
    if test.warmup:
        stages.append(Stage(duration=test.warmup, target=vus, start=vus, phase="warmup", measured=False))
    if not stages:
        return _Shape(ConstantVUs(vus=vus, duration=duration, think_time=think))
    stages.append(Stage(duration=duration, target=vus, start=vus, phase="steady"))
    return _Shape(RampingVUs(stages=stages, think_time=think))


def _latency(ctx: _Context) -> _Shape:
    test = ctx.test
    sizes = tuple(test.payload_sizes or DEFAULT_PAYLOAD_SIZES)
    if len(set(sizes)) != len(sizes):
        raise ctx.fail("payloadSizes", "distinct payload sizes", json.dumps(list(sizes)))
    rate = test.rps or DEFAULT_LATENCY_RPS
    duration = _required(ctx, test.duration, "duration", "a duration such as 30s or 5m")
    each = duration / len(sizes)
    stages = []
    if test.ramp_up:
        stages.append(Stage(duration=test.ramp_up, target=rate, start=0.0, phase="ramp-up", measured=False))
    stages += [
        Stage(duration=each, target=rate, start=rate, phase=f"payload-{size}", variant=i)
        for i, size in enumerate(sizes)
    ]
    return _Shape(RampingArrivalRate(stages=stages), payload_sizes=sizes)


def _custom(ctx: _Context) -> _Shape:
    test = ctx.test
    assert test.stages is not None  # TestSpec requires stages for a custom test
    executor = test.executor or "ramping-arrival-rate"
    stepped = executor.startswith("constant-")
    stages = [
        Stage(duration=s.duration, target=s.target, start=s.target if stepped else None, phase=f"stage-{i}")
        for i, s in enumerate(test.stages, start=1)
    ]
    if executor.endswith("-vus"):
        return _Shape(RampingVUs(start_vus=test.vus or 0, stages=stages, think_time=test.think_time or 0.0))
    return _Shape(RampingArrivalRate(stages=stages))


_BUILDERS: dict[str, Callable[[_Context], _Shape]] = {
    "load": _load,
    "spike": _spike,
    "soak": _soak,
    "stress": _stress,
    "concurrency": _concurrency,
    "latency": _latency,
    "custom": _custom,
}
