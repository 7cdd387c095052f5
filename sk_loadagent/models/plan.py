"""test-suite.plan.yaml: which tests to run against which service (spec cycle 3)."""

from __future__ import annotations

import re
import string
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from sk_loadagent.models._base import FieldProblem, WireModel
from sk_loadagent.models.durations import Duration
from sk_loadagent.models.flow import DataSpec, StepSpec, check_flow
from sk_loadagent.models.observability import ObservabilityConfig
from sk_loadagent.models.surfaces import (
    BUILT_IN_SURFACES,
    SURFACES,
    AmqpSurface,
    GrpcSurface,
    JobSurface,
    NatsSurface,
    RedisSurface,
    SurfaceBlock,
    SurfaceName,
    WebhookSurface,
    WebSocketSurface,
    broker_shape_problem,
)

TestType = Literal["load", "spike", "soak", "stress", "concurrency", "latency", "custom"]
TEST_TYPES: tuple[str, ...] = ("load", "spike", "soak", "stress", "concurrency", "latency", "custom")
ExecutorName = Literal["constant-arrival-rate", "ramping-arrival-rate", "constant-vus", "ramping-vus"]
TransportName = Literal["auto", "fast", "httpx"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
RunnerName = Literal["engine", "k6", "locust"]
BRIDGED_TYPES = ("load", "soak", "concurrency")
# What a bridged test's script decides itself: the load's shape, requests and checks.
_SCRIPT_OWNS = (
    "endpoint", "method", "headers", "body", "rps", "rampUp", "warmup", "vus", "thinkTime", "stages",
    "executor", "payloadSizes", "timeout", "expectStatus", "maxConnections", "transport", "http2", "tls",
    "flow", "data", "surface", "websocket", "grpc", "amqp", "nats", "redis", "webhook", "job",
)  # fmt: skip

_NEEDS_RATE = {"load", "spike", "soak"}
_BLOCK_PARTS = {
    "websocket": "path, send and correlate",
    "grpc": "url, proto, service, method and request",
    "amqp": "url, publish and consume",
    "nats": "url, publish and consume",
    "redis": "url, publish and consume",
    "webhook": "a trigger request carrying ${webhook.url}",
    "job": "submit, id, poll and until",
}
# RFC 3986 characters of a path and query; anything else must be percent-encoded before it is sent.
_URL_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%")
_BROKEN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def real_number(value: object) -> object:
    """A before-validator: ``true`` or ``"5"`` is no number (pydantic would read them as 1 and 5)."""
    if isinstance(value, bool | str):
        raise ValueError("a number")
    return value


def check_endpoint(value: str) -> str:
    """A path (and query) that can go on the wire as written: URL characters and valid %XX escapes only.

    A space or a non-ASCII character is refused rather than encoded, with the encoded form to copy: an
    encoding done silently could differ from what the service's own clients send.
    """
    if not value.startswith("/"):
        raise ValueError("a path starting with '/', such as /checkout/submit")
    if any(c not in _URL_CHARACTERS for c in value) or _BROKEN_ESCAPE.search(value):
        encoded = quote(_BROKEN_ESCAPE.sub("%25", value), safe="".join(sorted(_URL_CHARACTERS)))
        raise ValueError(f"a path of URL characters, with the others percent-encoded, such as {encoded}")
    return value


class Stage(WireModel):
    """One stage of a custom profile: move linearly to ``target`` (rps or VUs) over ``duration``."""

    model_config = ConfigDict(allow_inf_nan=False)

    duration: Duration
    target: float = Field(ge=0)

    _real_target = field_validator("target", mode="before")(real_number)


def check_base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host, such as http://127.0.0.1:8080")
    return value.rstrip("/")


def proxy_url_problem(value: str) -> str | None:
    """What is wrong with a plan's proxy URL (None when it is fine). Checked where the value can be shown
    without its password: a proxy with credentials is refused, since a resolved plan is passed around and
    printed (use HTTPS_PROXY for one that needs them)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "an http:// or https:// proxy URL such as http://127.0.0.1:3128"
    if parts.username is not None or parts.password is not None:
        return "a proxy URL without user:password@ (give a proxy that needs credentials in HTTPS_PROXY)"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "a proxy URL with only a scheme, host and port, such as http://127.0.0.1:3128"
    return None


TLS_VERSIONS = ("1.2", "1.3")


class TlsOptions(WireModel):
    """How an https:// target is reached. A test's block overrides the plan's field by field."""

    ca_file: str | None = Field(default=None, min_length=1)
    cert_file: str | None = Field(default=None, min_length=1)
    key_file: str | None = Field(default=None, min_length=1)
    server_name: str | None = Field(default=None, min_length=1)
    insecure_skip_verify: StrictBool | None = None
    min_version: Literal["1.2", "1.3"] | None = None

    @field_validator("min_version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        # YAML reads `minVersion: 1.2` as a number; "TLSv1.3" is how OpenSSL and nginx spell it.
        if isinstance(value, float | int) and not isinstance(value, bool):
            value = f"{value:g}"
        if isinstance(value, str):
            text = value.strip().lower().removeprefix("tlsv").removeprefix("tls")
            if text in TLS_VERSIONS:
                return text
            raise ValueError("1.2 or 1.3 (the lowest TLS version to accept)")
        return value

    @field_validator("server_name")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if value is not None and (any(c in value for c in " /:@") or value.startswith(".")):
            raise ValueError("a host name such as api.example.test (no scheme, port or path)")
        return value

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsOptions:
        if self.key_file is not None and self.cert_file is None:
            raise FieldProblem("certFile", "the client certificate (PEM) that keyFile belongs to")
        return self

    def over(self, base: TlsOptions | None) -> TlsOptions:
        """These options with every field they leave unset taken from ``base``."""
        if base is None:
            return self
        return base.model_copy(update=self.model_dump(by_alias=False, exclude_none=True))


class TestSpec(WireModel):
    """One test of a suite. Fields a test type does not use are rejected, so a plan says what it does."""

    __test__ = False  # not a pytest test class
    model_config = ConfigDict(allow_inf_nan=False)

    type: TestType
    name: str | None = None
    endpoint: str | None = None
    method: HttpMethod | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | dict[str, Any] | list[Any] | None = None
    rps: float | None = Field(default=None, gt=0)
    duration: Duration | None = None
    ramp_up: Duration | None = None
    warmup: Duration | None = None
    vus: int | None = Field(default=None, ge=1)
    think_time: Duration | None = None
    stages: list[Stage] | None = None
    executor: ExecutorName | None = None
    baseline_rps: float | None = Field(default=None, gt=0)
    baseline_duration: Duration | None = None
    recovery_window: Duration | None = None
    start_rps: float | None = Field(default=None, gt=0)
    step_rps: float | None = Field(default=None, gt=0)
    step_duration: Duration | None = None
    max_rps: float | None = Field(default=None, gt=0)
    error_ceiling: float | None = Field(default=None, gt=0, le=1)
    window: Duration | None = None
    payload_sizes: list[StrictInt] | None = None
    timeout: Duration | None = None
    expect_status: list[StrictInt] | None = None
    max_connections: int | None = Field(default=None, ge=1)
    transport: TransportName | None = None
    http2: StrictBool | None = None
    tls: TlsOptions | None = None
    retry_on_fail: StrictBool | None = None
    exclude_from_gate: StrictBool | None = None
    flow: list[StepSpec] | None = Field(default=None, description="the steps of a flow test, in order")
    data: DataSpec | None = Field(default=None, description="rows a flow reads with ${data.col}")
    runner: RunnerName | None = Field(
        default=None, description="engine (default), or k6 / locust to run the user's own script as the load"
    )
    script: str | None = Field(
        default=None, min_length=1, description="the k6 script or locustfile a bridged test runs"
    )
    surface: SurfaceName | None = Field(
        default=None, description="http (the default), websocket, grpc, amqp, nats, redis, webhook or job"
    )
    websocket: WebSocketSurface | None = None
    grpc: GrpcSurface | None = None
    webhook: WebhookSurface | None = None
    job: JobSurface | None = None
    amqp: AmqpSurface | None = None
    nats: NatsSurface | None = None
    redis: RedisSurface | None = None

    _real_numbers = field_validator(
        "rps",
        "vus",
        "baseline_rps",
        "start_rps",
        "step_rps",
        "max_rps",
        "error_ceiling",
        "max_connections",
        mode="before",
    )(real_number)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_path(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint(value)

    @field_validator("method", mode="before")
    @classmethod
    def _method_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("surface", mode="before")
    @classmethod
    def _known_surface(cls, value: object) -> object:
        if value is not None and value not in SURFACES:
            raise ValueError(f"one of {', '.join(SURFACES)}")
        return value

    @field_validator("duration", "step_duration", "window")
    @classmethod
    def _positive_duration(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("a duration greater than 0")
        return value

    @field_validator("payload_sizes")
    @classmethod
    def _sizes(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(v < 0 for v in value)):
            raise ValueError("a non-empty list of payload sizes in bytes, each 0 or more")
        return value

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 100 <= v <= 599 for v in value):
            raise ValueError("HTTP status codes between 100 and 599")
        return value

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: list[Stage] | None) -> list[Stage] | None:
        if value is not None and not value:
            raise ValueError("at least one stage")
        return value

    @model_validator(mode="after")
    def _fields_fit_type(self) -> TestSpec:
        t = self.type
        if self.bridged():
            return self._bridge_fits()
        if self.script is not None:
            raise FieldProblem("script", "no script without runner: k6 or runner: locust")
        self._flow_fits()
        self._surface_fits()
        if t in _NEEDS_RATE and self.rps is None:
            raise FieldProblem("rps", f"the target requests per second (a {t} test needs rps)")
        if t == "stress" and self.rps is None and self.max_rps is None:
            raise FieldProblem(
                "rps", "the design limit in requests per second (a stress test needs rps or maxRps)"
            )
        if t == "concurrency" and self.vus is None:
            raise FieldProblem("vus", "the number of concurrent sessions (a concurrency test needs vus)")
        if t == "custom" and not self.stages:
            raise FieldProblem("stages", "a list of stages (a custom test needs stages)")
        if t in ("load", "spike", "concurrency", "latency") and self.duration is None:
            raise FieldProblem("duration", f"a duration such as 30s or 5m (a {t} test needs one)")
        self._type_fields()
        if (
            t == "spike"
            and self.baseline_rps is not None
            and self.rps is not None
            and self.baseline_rps >= self.rps
        ):
            raise FieldProblem("baselineRps", f"a rate lower than the spike's rps ({self.rps:g})")
        if t == "stress" and self.start_rps and self.max_rps and self.start_rps > self.max_rps:
            raise FieldProblem("startRps", f"a rate not above maxRps ({self.max_rps:g})")
        return self

    def _flow_fits(self) -> None:
        if self.flow is None:
            if self.data is not None:
                raise FieldProblem(
                    "data", "no data in a test without a flow (steps read it with ${data.col})"
                )
            return
        if not self.flow:
            raise FieldProblem("flow", "at least one step")
        if self.type == "latency":
            raise FieldProblem("flow", "no flow in a latency test (it sweeps the payload of one endpoint)")
        if self.name is None:
            raise FieldProblem(
                "name",
                "a name for the flow, such as checkout-flow (its memory and step series are keyed by it)",
            )
        for name, value in (
            ("endpoint", self.endpoint),
            ("method", self.method),
            ("body", self.body),
            ("expectStatus", self.expect_status),
        ):
            if value is not None:
                raise FieldProblem(name, f"no {name} in a flow test (each step has its request and checks)")
        check_flow(self.flow, self.data)

    def bridged(self) -> bool:
        """True when k6 or Locust generates this test's load from the user's own script."""
        return self.runner in ("k6", "locust")

    def _bridge_fits(self) -> TestSpec:
        """A bridged test: the script shapes the load; the plan names it, bounds it and says how to judge."""
        tool = (
            "a k6 script such as checkout.js" if self.runner == "k6" else "a locustfile such as locustfile.py"
        )
        if self.script is None:
            raise FieldProblem("script", f"{tool} (runner: {self.runner} runs it)")
        if self.type not in BRIDGED_TYPES:
            raise FieldProblem(
                "type",
                f"{', '.join(BRIDGED_TYPES)} (the types a runner: {self.runner} test can be)",
                self.type,
            )
        if self.name is None:
            raise FieldProblem(
                "name", "a name for the bridged test, such as checkout-k6 (its memory series is keyed by it)"
            )
        if self.duration is None:
            raise FieldProblem(
                "duration", f"the longest the {self.runner} run may take, such as 30s (it is stopped there)"
            )
        for name in _SCRIPT_OWNS:
            if name == "vus" and self.runner == "locust":
                continue  # Locust takes its user count on the command line, not from the locustfile
            value = getattr(self, _snake(name))
            if value is not None and value != {}:
                raise FieldProblem(
                    name, f"no {name} in a runner: {self.runner} test (its script sets the load)"
                )
        self._type_fields(vus=False)
        return self

    def _type_fields(self, *, vus: bool = True) -> None:
        """Fields that belong to one test type are refused in the others."""
        if vus:
            self._only_for(("concurrency", "custom"), vus=self.vus)
        self._only_for(("latency",), payloadSizes=self.payload_sizes)
        self._only_for(("custom",), stages=self.stages, executor=self.executor)
        self._only_for(
            ("stress",),
            startRps=self.start_rps,
            stepRps=self.step_rps,
            stepDuration=self.step_duration,
            maxRps=self.max_rps,
            errorCeiling=self.error_ceiling,
        )
        self._only_for(
            ("spike",),
            baselineRps=self.baseline_rps,
            baselineDuration=self.baseline_duration,
            recoveryWindow=self.recovery_window,
        )

    def _surface_fits(self) -> None:
        """A broker surface has its block and none of an HTTP test's fields; a block needs its surface."""
        blocks = {
            "websocket": self.websocket,
            "grpc": self.grpc,
            "amqp": self.amqp,
            "nats": self.nats,
            "redis": self.redis,
            "webhook": self.webhook,
            "job": self.job,
        }
        for name, block in blocks.items():
            if block is not None and self.surface != name:
                article = "an" if name == "amqp" else "a"
                raise FieldProblem(
                    "surface", f"{name} (the test has {article} {name} block)", repr(self.surface or "http")
                )
        if self.surface not in BUILT_IN_SURFACES:
            return
        if blocks[self.surface] is None:
            parts = _BLOCK_PARTS[str(self.surface)]
            article = "an" if self.surface == "amqp" else "a"
            raise FieldProblem(
                str(self.surface),
                f"{article} {self.surface} block ({parts}) for a test with surface: {self.surface}",
            )
        shape = broker_shape_problem(blocks[self.surface], in_flow=False)  # type: ignore[arg-type]
        if shape is not None:
            raise FieldProblem(f"{self.surface}.{shape[0]}", shape[1])
        if self.type == "latency":
            raise FieldProblem("surface", "http in a latency test (it sweeps the payload of one endpoint)")
        for name, value in (
            ("endpoint", self.endpoint),
            ("method", self.method),
            ("body", self.body),
            ("expectStatus", self.expect_status),
            ("flow", self.flow),
        ):
            if value is not None:
                raise FieldProblem(
                    name, f"no {name} in a test with surface: {self.surface} (its block says what to send)"
                )

    def surface_block(self) -> SurfaceBlock | None:
        """The block of a test with a built-in surface other than http."""
        return self.websocket or self.grpc or self.amqp or self.nats or self.redis or self.webhook or self.job

    def _only_for(self, types: tuple[str, ...], **fields: object) -> None:
        for name, value in fields.items():
            if value is not None and self.type not in types:
                owners = " or ".join(types)
                raise FieldProblem(
                    name, f"no {name} in a {self.type} test ({name} belongs to {owners} tests)"
                )

    def label(self) -> str:
        block = self.surface_block()
        if self.name is None and block is not None:
            return f"{self.type} {self.surface} {block.target()}"
        return self.name or f"{self.type} {self.endpoint or ''}".strip()

    def bridge_endpoint(self) -> str | None:
        """What a bridged test is keyed by where a plain test has its endpoint: ``k6:<name>``."""
        return f"{self.runner}:{self.name}" if self.bridged() else None

    def flow_endpoint(self) -> str | None:
        """What a flow test is keyed by where a plain test has its endpoint: ``flow:<name>``; a broker
        surface's test by what it publishes to and reads from: ``amqp:notifications.in>notifications.out``."""
        block = self.surface_block()
        if block is not None:
            return f"{self.surface}:{block.target()}"
        return f"flow:{self.name}" if self.flow is not None else None


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


class TestSuitePlan(WireModel):
    """The whole plan: a service, its scope and the tests to run against it."""

    __test__ = False
    model_config = ConfigDict(allow_inf_nan=False)

    trace_id: str | None = None
    module_id: str = Field(min_length=1)
    edition_id: str | None = None
    base_url: str | None = None
    endpoint: str | None = None
    method: HttpMethod | None = None
    allow_hosts: list[str] = Field(default_factory=list)
    execution_window: Duration | None = None
    retry_on_fail: StrictBool | None = None
    max_retries: int | None = Field(default=None, ge=0, le=10)
    source_agent: str | None = None
    tls: TlsOptions | None = None
    proxy: str | None = None
    secrets: list[str] | None = Field(
        default=None, description="header names whose values are written as *** (beside the defaults)"
    )
    observability: ObservabilityConfig | None = Field(
        default=None, description="observability.config.yaml's shape: spans in, trace context out, scrapes"
    )
    tests: list[TestSpec] = Field(min_length=1)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or []:
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError("header names such as X-Session-Token (whose values are written as ***)")
        return value

    _real_max_retries = field_validator("max_retries", mode="before")(real_number)

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_path(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint(value)

    @field_validator("method", mode="before")
    @classmethod
    def _method_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
