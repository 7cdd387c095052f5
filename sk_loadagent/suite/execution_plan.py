"""The execution plan: a test-suite plan with every input resolved, ready to run and serialisable.

This is what TestPlanInterpreter produces and every later step reads. Resolving happens here once (target
URL, endpoint, method, load profile, stress SLO, retry adjustments), so the other steps never re-read files.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from sk_loadagent.errors import InputError, InputProblem, TargetNotAllowedError
from sk_loadagent.models._base import WireModel
from sk_loadagent.models.caps import Caps
from sk_loadagent.models.durations import Duration
from sk_loadagent.models.flow import referenced_env
from sk_loadagent.models.observability import ObservabilityConfig
from sk_loadagent.models.plan import TestSpec, TestSuitePlan, TlsOptions, check_base_url, proxy_url_problem
from sk_loadagent.models.surfaces import GrpcSurface, WebSocketSurface
from sk_loadagent.secrets import mask_url, register, secret_header_names, url_credentials
from sk_loadagent.suite.editions import EditionSchedule, scale_rates, schedule_for_edition
from sk_loadagent.suite.inputs import SuiteInputs
from sk_loadagent.suite.sources import Sources

if TYPE_CHECKING:
    from sk_loadagent.engine import LoadProfile


class SourcedDocument(WireModel):
    """An input document with the name of the file it came from (for threshold sources in artifacts)."""

    source: str
    document: dict[str, Any]


class PlannedTest(WireModel):
    index: int
    label: str
    test_type: str
    endpoint: str = Field(description="the test's endpoint; a flow's is flow:<name>")
    method: str | None = Field(default=None, description="None for a flow (each step has its own)")
    url: str
    test: TestSpec
    profile: str
    slo_p95_ms: float | None = None
    slo_error_rate: float | None = None
    exclude_from_gate: bool = False
    retry_on_fail: bool = False
    adjustments: dict[str, str | float] | None = None
    planned_peak_rps: float | None = Field(
        default=None, description="the schedule's highest arrival rate as planned, before retry adjustments"
    )
    planned_seconds: float | None = Field(
        default=None, description="the whole schedule in seconds (a stress test's search included)"
    )
    notes: list[str] | None = Field(default=None, description="how the test was made (a trace plan's flow)")


class ExecutionPlan(WireModel):
    trace_id: str
    module_id: str
    edition_id: str | None = None
    source_agent: str | None = None
    plan_file: str | None = None
    base_url: str
    allow_hosts: list[str] = Field(default_factory=list)
    proxy: str | None = None
    execution_window: Duration | None = None
    retry_on_fail: bool = False
    warn_on_regression: bool = Field(
        default=False, description="cycle 9 warnOnRegression: a regression warns and does not fail the gate"
    )
    max_retries: int = 3
    tests: list[PlannedTest]
    threshold_files: list[SourcedDocument] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None
    edition_config: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    weighting: dict[str, Any] | None = None
    seed_baselines: list[dict[str, Any]] = Field(default_factory=list)
    caps: Caps | None = Field(default=None, description="the caps the plan was checked against")
    notes: list[str] = Field(
        default_factory=list, description="what the edition and Studio changed in the plan, and why"
    )
    observability: ObservabilityConfig | None = None
    observability_source: str | None = Field(
        default=None, description="the file (or plan field) it came from"
    )

    def sources(self) -> Sources:
        """The judging inputs the plan carries, validated again (the plan may have come over the wire)."""
        return Sources.from_documents(
            thresholds=[(d.source, d.document) for d in self.threshold_files],
            metadata=self.metadata,
            editions=self.edition_config,
            annotations=self.annotations,
            weighting=self.weighting,
        )

    def test(self, index: int) -> PlannedTest:
        for planned in self.tests:
            if planned.index == index:
                return planned
        raise KeyError(index)


def default_trace_id(module_id: str) -> str:
    return f"{module_id.lower()}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


def _target_base_url(inputs: SuiteInputs, target_url: str | None) -> str:
    if target_url:
        try:
            return check_base_url(target_url)
        except ValueError as exc:
            raise InputError.single("--target-url", "", str(exc), repr(mask_url(target_url))) from None
    if inputs.plan.base_url:
        return inputs.plan.base_url
    if inputs.metadata is not None and inputs.metadata.base_url:
        return check_base_url(inputs.metadata.base_url)
    raise InputError.single(
        inputs.plan_source,
        "baseUrl",
        "a target: baseUrl in the plan, --target-url, or baseUrl in service.metadata.yaml",
    )


def _endpoint(inputs: SuiteInputs, index: int, test: TestSpec) -> str:
    """The test's endpoint, else the plan's, else the first one a test names, else service.metadata's; a
    flow is keyed ``flow:<name>``."""
    keyed = test.flow_endpoint() or test.bridge_endpoint()
    if keyed is not None:
        return keyed
    if test.endpoint:
        return test.endpoint
    if inputs.plan.endpoint:
        return inputs.plan.endpoint
    named = next((t.endpoint for t in inputs.plan.tests if t.endpoint), None)
    if named:
        return named
    if inputs.metadata is not None:
        default = inputs.metadata.default_endpoint()
        if default is not None:
            return default.path
    raise InputError.single(
        inputs.plan_source,
        f"tests[{index}].endpoint",
        "an endpoint path (none in the test, the plan or service.metadata.yaml)",
    )


def _method(inputs: SuiteInputs, test: TestSpec, endpoint: str) -> str | None:
    if test.flow is not None or test.bridged() or test.surface_block() is not None:
        return None
    if test.method:
        return test.method
    if inputs.plan.method:
        return inputs.plan.method
    if inputs.metadata is not None:
        method = inputs.metadata.method_for(endpoint)
        if method:
            return method.upper()
    return "POST" if test.body is not None or test.payload_sizes else "GET"


def _test_url(base_url: str, endpoint: str, test: TestSpec) -> str:
    """What the test loads: the service's URL, or a surface's broker or WebSocket URL (no password)."""
    block = test.surface_block()
    if isinstance(block, WebSocketSurface):
        block = block.resolved(base_url)
    if block is not None and block.url is not None:
        return mask_url(block.url)
    return base_url + endpoint


def _check_surface_urls(source: str, index: int, test: TestSpec, hosts: list[str]) -> None:
    """A broker surface's URL, like the target: loopback or allow-listed (TargetNotAllowedError, exit 2)."""
    from sk_loadagent.engine import check_target
    from sk_loadagent.models.surfaces import SURFACE_SCHEMES

    blocks = [(str(test.surface), "", test.surface_block())]
    blocks += [(str(s.surface), f"flow[{i}].", s.surface_block()) for i, s in enumerate(test.flow or [])]
    for name, where, block in blocks:
        if block is None or block.url is None:  # a WebSocket block without a URL goes to the base URL
            continue
        role = f"{'endpoint' if name in ('websocket', 'grpc') else 'broker'} ({name})"
        try:
            check_target(mask_url(block.url), hosts, role, SURFACE_SCHEMES[name])
        except TargetNotAllowedError as exc:
            field = f"tests[{index}].{where}{name}.url"
            problems = [InputProblem(field, p.expected, p.got) for p in exc.problems]
            raise TargetNotAllowedError(source, problems) from None


def _checked_proxy(inputs: SuiteInputs, hosts: list[str]) -> str | None:
    """The plan's proxy: a URL without credentials, to a loopback or allowed host (shown without its
    password when it is refused)."""
    from sk_loadagent.engine import check_target, redact_proxy

    proxy = inputs.plan.proxy
    if proxy is None:
        return None
    problem = proxy_url_problem(proxy)
    if problem is not None:
        raise InputError.single(inputs.plan_source, "proxy", problem, repr(redact_proxy(proxy)))
    check_target(proxy, hosts, role="proxy")
    return proxy.rstrip("/")


def _from_root(value: str, root: Path | None) -> str:
    """A file path the plan wrote, made absolute from ``root`` (the plan's folder; else left to the cwd)."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() or root is None else root / path)


def _rooted(options: TlsOptions | None, root: Path | None) -> TlsOptions | None:
    """``options`` with relative file paths made absolute from ``root`` (the plan's folder; else the cwd)."""
    if options is None:
        return None
    files = {"ca_file": options.ca_file, "cert_file": options.cert_file, "key_file": options.key_file}
    update = {name: _from_root(value, root) for name, value in files.items() if value is not None}
    return options.model_copy(update=update)


def _rooted_data(test: TestSpec, root: Path | None) -> dict[str, Any]:
    """A flow's data file made absolute from the plan's folder (as TLS files are)."""
    if test.data is None:
        return {}
    return {"data": test.data.model_copy(update={"file": _from_root(test.data.file, root)})}


def _rooted_script(inputs: SuiteInputs, index: int, test: TestSpec, root: Path | None) -> TestSpec:
    """A bridged test's script made absolute from the plan's folder; a missing script is bad input."""
    path = Path(_from_root(test.script or "", root))
    if not path.is_file():
        what = "k6 script" if test.runner == "k6" else "locustfile"
        raise InputError.single(
            inputs.plan_source, f"tests[{index}].script", f"an existing {what} file", str(path)
        )
    return test.model_copy(update={"script": str(path.resolve())})


def _bridged(inputs: SuiteInputs, index: int, test: TestSpec, base_url: str, **fields: Any) -> PlannedTest:
    """The planned form of a test whose load k6 or Locust generates from the user's own script."""
    from sk_loadagent.bridge import STARTUP_GRACE_S

    endpoint = test.bridge_endpoint() or ""
    return PlannedTest(
        index=index,
        label=test.label(),
        test_type=test.type,
        endpoint=endpoint,
        url=base_url,
        test=test,
        profile=f"{test.runner} {Path(test.script or '').name} against {base_url}, stopped at "
        f"{(test.duration or 0) + STARTUP_GRACE_S:g}s (duration {test.duration:g}s + "
        f"{STARTUP_GRACE_S:g}s to start)",
        planned_seconds=test.duration,
        notes=inputs.notes.get(index) or None,
        **fields,
    )


def _rooted_protos(test: TestSpec, root: Path | None) -> dict[str, Any]:
    """Every .proto of a test made absolute from the plan's folder, as a flow's data file is: a gRPC test's
    and each gRPC step's of its flow."""
    update: dict[str, Any] = {}
    if test.grpc is not None:
        update["grpc"] = _rooted_grpc(test.grpc, root)
    if any(step.grpc is not None for step in test.flow or []):
        update["flow"] = [
            step.model_copy(update={"grpc": _rooted_grpc(step.grpc, root)}) if step.grpc is not None else step
            for step in test.flow or []
        ]
    return update


def _rooted_grpc(block: GrpcSurface, root: Path | None) -> GrpcSurface:
    return block.model_copy(update={"proto": _from_root(block.proto, root)})


def register_secrets(plan: TestSuitePlan, base_url: str) -> None:
    """Tell ``sk_loadagent.secrets`` every secret the plan holds (see that module): URL credentials, the
    values of secret headers written in full, and the environment values that ``${env:...}`` reads."""
    names = secret_header_names(plan.secrets)
    values = [*url_credentials(base_url), *url_credentials(plan.base_url or "")]
    for test in plan.tests:
        values += [v for k, v in test.headers.items() if k.lower() in names]
        for step in test.flow or []:
            if step.request is not None:
                values += [v for k, v in step.request.headers.items() if k.lower() in names and "${" not in v]
        values += [os.environ.get(name) or "" for name in referenced_env(test.flow or [])]
    register(values)


def _check_tls(options: TlsOptions | None, source: str, prefix: str) -> None:
    """A TLS block that cannot work on its own fails here, named where it was written."""
    from sk_loadagent.engine import TlsOptionError, check_tls_options

    if options is None:
        return
    try:
        check_tls_options(options)
    except TlsOptionError as exc:
        field = f"{prefix}{exc.field}" if prefix else _CLI_FLAGS.get(exc.field, exc.field)
        raise InputError.single(source, field, exc.expected, exc.got) from None


_CLI_FLAGS = {"caFile": "--ca-file"}


def tls_from_command_line(ca_file: str | None, insecure: bool | None) -> TlsOptions | None:
    """The TLS options of ``--ca-file`` and ``--insecure`` (which win over the plan's and the tests')."""
    if ca_file is None and not insecure:
        return None
    return TlsOptions(ca_file=ca_file, insecure_skip_verify=True if insecure else None)


def apply_adjustments(test: TestSpec, adjustments: dict[str, str | float]) -> TestSpec:
    """A retry's changes (spec cycle 18): scaled rates, a shorter duration, an added warm-up."""
    data = test.model_dump(by_alias=False, exclude_none=True)
    factor = adjustments.get("loadFactor")
    if isinstance(factor, int | float):
        scale_rates(data, factor, floor=1.0, vus=True)
    for key in ("duration", "warmup"):
        if key in adjustments:
            data[key] = adjustments[key]
    # Beside a loadFactor, "rps" only reports the throttled rate (from the last run's mean target, which for a
    # spike is not its peak, and after an earlier throttle is already reduced): the factor has scaled the
    # planned rates, so each throttled attempt runs at the factor times the plan, never compounded.
    if "rps" in adjustments and "rps" in data and not isinstance(factor, int | float):
        data["rps"] = adjustments["rps"]
    # A reviewer's retryWith may set the concurrency of a VU-driven test.
    if "vus" in adjustments and "vus" in data and not isinstance(factor, int | float):
        data["vus"] = adjustments["vus"]
    return TestSpec.model_validate(data)


def _peak_rps(profile: LoadProfile) -> float | None:
    """The highest arrival rate of an open-model schedule; None for a VU-driven one."""
    return profile.executor.peak() if profile.model == "open" else None


def interpret(
    inputs: SuiteInputs,
    *,
    target_url: str | None = None,
    trace_id: str | None = None,
    edition_id: str | None = None,
    source_agent: str | None = None,
    allow_hosts: list[str] | None = None,
    adjustments: dict[int, dict[str, str | float]] | None = None,
    caps: Caps | None = None,
    tls: TlsOptions | None = None,
    warn_on_regression: bool = False,
    retry_on_flakiness: bool = False,
    module_id: str | None = None,
) -> ExecutionPlan:
    """Resolve a loaded suite into an execution plan; raises InputError for anything that cannot run,
    including a test over ``caps`` (default: this machine's, ``engine.machine_caps()``).

    ``tls`` (the command line's, see ``tls_from_command_line``) wins over each test's ``tls``, which wins over
    the plan's, field by field; relative files in the plan are read from the plan's folder.

    The CI gating flags of cycle 9: ``warn_on_regression`` is carried to the verdict;
    ``retry_on_flakiness`` is the pipeline's ``retryOnFail`` for every test that does not set its own.
    ``module_id`` and ``edition_id`` override the plan's (a pipeline's task inputs).
    """
    from sk_loadagent.engine import build_profile, check_target, machine_caps

    caps = caps if caps is not None else machine_caps()
    plan = inputs.plan
    base_url = _target_base_url(inputs, target_url)
    register_secrets(plan, base_url)
    hosts = [*plan.allow_hosts, *(allow_hosts or [])]
    check_target(base_url, hosts)
    proxy = _checked_proxy(inputs, hosts)
    if inputs.observability is not None:
        from sk_loadagent.observability import check_config

        in_plan = inputs.observability_source == inputs.plan_source
        source = inputs.observability_source or inputs.plan_source
        check_config(inputs.observability, source, prefix="observability." if in_plan else "")
    plan_file = Path(inputs.plan_source)
    root = plan_file.parent if plan_file.is_file() else None
    plan_tls, cli_tls = _rooted(plan.tls, root), _rooted(tls, None)
    if base_url.startswith("https://"):
        _check_tls(plan_tls, inputs.plan_source, "tls.")
        _check_tls(cli_tls, "command line", "")
    module = module_id or plan.module_id
    trace = trace_id or plan.trace_id or default_trace_id(module)
    edition = edition_id or plan.edition_id
    schedule = _edition_schedule(inputs, edition)
    window = schedule.execution_window
    studio_retry = bool(inputs.flags(module, edition).retry_on_fail)
    retry_default = bool(plan.retry_on_fail) or studio_retry or retry_on_flakiness
    planned: list[PlannedTest] = []
    for index, spec in ((s.index, s.test) for s in schedule.tests):
        test = spec
        extra = (adjustments or {}).get(index)
        if extra:
            test = apply_adjustments(spec, extra)
        endpoint = _endpoint(inputs, index, test)
        flags = inputs.flags(module, edition, test.type)
        if test.bridged():
            planned.append(
                _bridged(
                    inputs,
                    index,
                    _rooted_script(inputs, index, test, root),
                    base_url,
                    exclude_from_gate=bool(test.exclude_from_gate) or flags.exclude_from_gate,
                    retry_on_fail=_retry_on_fail(test.retry_on_fail, flags.retry_on_fail, retry_default),
                )
            )
            continue
        method = _method(inputs, test, endpoint)
        test_tls = _rooted(test.tls, root)
        merged_tls = test_tls.over(plan_tls) if test_tls is not None else plan_tls
        if cli_tls is not None:
            merged_tls = cli_tls.over(merged_tls)
        route: dict[str, Any] = {"tls": merged_tls, **_rooted_data(test, root), **_rooted_protos(test, root)}
        plain = test.flow is None and test.surface_block() is None
        if plain:
            route.update(endpoint=endpoint, method=method)
        _check_surface_urls(inputs.plan_source, index, test, hosts)
        test = test.model_copy(update=route)
        slo = inputs.sources().limits(
            module_id=module, edition_id=edition, test_type=test.type, endpoint=endpoint
        )
        p95, error_rate = slo.value("latencyP95"), slo.value("errorRateMax")
        build = partial(
            build_profile,
            base_url=base_url,
            method=method,
            execution_window=window,
            slo_p95_ms=p95,
            slo_error_rate=error_rate,
            caps=caps,
            proxy=proxy,
        )
        try:
            profile = build(test)
            # The schedule before any retry scaled it, for sizing the next retry (its peak rate).
            as_planned = build(spec.model_copy(update=route)) if extra else profile
        except InputError as exc:
            raise InputError(inputs.plan_source, _prefixed(exc, index)) from None
        planned.append(
            PlannedTest(
                index=index,
                label=test.label() if test.name else f"{test.type} {endpoint}",
                test_type=test.type,
                endpoint=endpoint,
                method=method,
                url=_test_url(base_url, endpoint if plain else "", test),
                test=test,
                profile=profile.describe(),
                slo_p95_ms=p95,
                slo_error_rate=error_rate,
                exclude_from_gate=bool(test.exclude_from_gate) or flags.exclude_from_gate,
                retry_on_fail=_retry_on_fail(test.retry_on_fail, flags.retry_on_fail, retry_default),
                adjustments=extra,
                planned_peak_rps=_peak_rps(as_planned),
                planned_seconds=profile.load_seconds,
                notes=inputs.notes.get(index) or None,
            )
        )
    return ExecutionPlan(
        trace_id=trace,
        module_id=module,
        edition_id=edition,
        source_agent=source_agent or plan.source_agent,
        plan_file=inputs.plan_source,
        base_url=base_url,
        allow_hosts=hosts,
        proxy=proxy,
        execution_window=window,
        retry_on_fail=retry_default,
        warn_on_regression=warn_on_regression,
        max_retries=plan.max_retries if plan.max_retries is not None else 3,
        tests=planned,
        threshold_files=[SourcedDocument(source=s, document=d.to_wire()) for s, d in inputs.thresholds],
        metadata=inputs.metadata.to_wire() if inputs.metadata is not None else None,
        edition_config=inputs.editions.to_wire() if inputs.editions is not None else None,
        annotations=inputs.annotations.to_wire() if inputs.annotations is not None else None,
        weighting=inputs.weighting.to_wire() if inputs.weighting is not None else None,
        seed_baselines=[b.to_wire() for b in inputs.baselines],
        caps=caps,
        notes=schedule.notes,
        observability=inputs.observability,
        observability_source=inputs.observability_source,
    )


def _edition_schedule(inputs: SuiteInputs, edition_id: str | None) -> EditionSchedule:
    """The plan's tests as the edition runs them; an edition that leaves none to run is bad input."""
    edition = inputs.editions.edition(edition_id) if inputs.editions is not None else None
    schedule = schedule_for_edition(inputs.plan, edition, inputs.annotations, edition_id)
    if not schedule.tests and edition is not None:
        raise InputError.single(
            inputs.plan_source,
            "tests",
            f"at least one test of a type edition {edition_id} runs ({', '.join(edition.test_types or [])})",
            ", ".join(t.type for t in inputs.plan.tests),
        )
    return schedule


def _retry_on_fail(from_test: bool | None, from_studio: bool | None, default: bool) -> bool:
    """The test's own setting wins, then Studio's, then the plan's."""
    for value in (from_test, from_studio):
        if value is not None:
            return value
    return default


def _prefixed(exc: InputError, index: int) -> list[Any]:
    for problem in exc.problems:
        problem.field = f"tests[{index}].{problem.field}" if problem.field else f"tests[{index}]"
    return list(exc.problems)
