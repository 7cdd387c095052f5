"""Flows in test-suite.plan.yaml: a test's ordered steps, the values they pass on, their checks and data.

    - name: checkout-flow
      type: load                      # every load shape applies; rps counts flow iterations
      rps: 20
      duration: 60s
      data: {file: users.csv, mode: unique}
      flow:
        - name: login
          request:
            {method: POST, path: /auth/login, json: {user: "${data.user}", password: "${data.password}"}}
          extract: {token: "$.token"}
          check: {status: 200}
        - name: add-item
          request:
            {method: POST, path: /cart/items, headers: {Authorization: "Bearer ${token}"}, json: {sku: A1}}
          check: {status: 201, "$.items[0].sku": A1}
          thinkTime: 100ms

Values: ``${name}`` (extracted by an earlier step), ``${data.col}``, ``${env:NAME}``, ``${uuid}`` (one per
iteration), ``${iteration}`` and ``${vu}``; ``$$`` is a literal ``$``. Everything here is checked without
touching the file system or the environment; the data file, the environment variables and a step's client
class are checked when the test is built (``engine.build_profile``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from sk_loadagent.models._base import FieldProblem, WireModel
from sk_loadagent.models.durations import Duration
from sk_loadagent.models.jsonpath import compile_json_path
from sk_loadagent.models.surfaces import (
    BUILT_IN_SURFACES,
    AmqpSurface,
    GrpcSurface,
    JobSurface,
    NatsSurface,
    RedisSurface,
    SurfaceBlock,
    WebhookSurface,
    WebSocketSurface,
    broker_shape_problem,
    message_template,
)

DataMode = Literal["sequential", "random", "unique"]
OnFail = Literal["continue", "stop"]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
RefKind = Literal["var", "data", "env", "uuid", "iteration", "vu", "surface"]

_TEMPLATE = re.compile(r"\$\$|\$\{([^{}]*)\}")
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SURFACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
_HEADER = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BUILTINS: dict[str, RefKind] = {"uuid": "uuid", "iteration": "iteration", "vu": "vu"}
# Filled by a surface's client at call time: the webhook receiver's URL for this call, a job's id.
SURFACE_REFS = {"webhook.url": "webhook", "job.id": "job"}


def surface_ref_fits(ref: str, surface: str | None, where: str) -> bool:
    """Whether ``${webhook.url}`` / ``${job.id}`` may stand at ``where`` (within the surface's message:
    ``.json.callback``, ``.poll``) of a call of ``surface``: the trigger of a webhook, a job's poll path."""
    if ref == "webhook.url":
        return surface == "webhook"
    return surface == "job" and where == ".poll"


RESERVED_NAMES = frozenset({"uuid", "iteration", "vu", "data", "env"})
REFERENCE_FORMS = "${token}, ${data.user}, ${env:API_KEY}, ${uuid}, ${iteration} or ${vu}"
CHECK_OPERATORS = ("equals", "exists", "length")
CHECK_KEYS = "status, bodyContains or a JSONPath such as $.items[0].sku"


class TemplateError(ValueError):
    """Text with a ``${...}`` that is no reference: ``str()`` says what would be, ``written`` what was."""

    def __init__(self, expected: str, written: str) -> None:
        super().__init__(expected)
        self.written = written


@dataclass(frozen=True)
class Ref:
    """One ``${...}`` of a template: what it refers to and how it was written."""

    kind: RefKind
    name: str  # the variable, column or environment variable; "" for uuid, iteration and vu
    text: str


Part = str | Ref


def parse_template(text: str) -> list[Part]:
    """``"Bearer ${token}"`` -> ``["Bearer ", Ref("var", "token", "${token}")]``; raises ValueError."""
    parts: list[Part] = []
    at = 0
    for match in _TEMPLATE.finditer(text):
        if match.start() > at:
            parts.append(text[at : match.start()])
        at = match.end()
        if match.group(0) == "$$":
            parts.append("$")
            continue
        parts.append(_ref(match.group(1).strip(), match.group(0)))
    if at < len(text):
        parts.append(text[at:])
    if "${" in "".join(p for p in parts if isinstance(p, str)):
        raise TemplateError(f"references written as {REFERENCE_FORMS} (or $$ for a $)", text)
    return _merged(parts)


def _ref(inner: str, written: str) -> Ref:
    if inner in _BUILTINS:
        return Ref(_BUILTINS[inner], "", written)
    if inner in SURFACE_REFS:
        return Ref("surface", inner, written)
    if inner.startswith("env:") and _ENV.fullmatch(inner[4:]):
        return Ref("env", inner[4:], written)
    if inner.startswith("data.") and inner[5:].strip():
        return Ref("data", inner[5:], written)
    if _VAR.fullmatch(inner) and inner not in RESERVED_NAMES:
        return Ref("var", inner, written)
    raise TemplateError(f"a reference such as {REFERENCE_FORMS}", written)


def _merged(parts: list[Part]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        elif part != "":
            out.append(part)
    return out


def template_refs(value: Any) -> list[tuple[str, Ref]]:
    """Every reference in a value (text, or lists and mappings of them), with the key path it sits at."""
    found: list[tuple[str, Ref]] = []
    if isinstance(value, str):
        found += [("", p) for p in parse_template(value) if isinstance(p, Ref)]
    elif isinstance(value, dict):
        for key, item in value.items():
            found += [(_join(str(key), where), ref) for where, ref in template_refs(item)]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += [(_join(f"[{index}]", where), ref) for where, ref in template_refs(item)]
    return found


def _join(key: str, rest: str) -> str:
    if not rest:
        return key
    return f"{key}{rest}" if rest.startswith("[") else f"{key}.{rest}"


class DataSpec(WireModel):
    """Rows a flow reads with ``${data.col}``: a CSV file with a header row, and how rows are handed out.

    ``sequential`` (the default) gives iteration n the row n modulo the number of rows; ``random`` a row
    drawn at random; ``unique`` each row once: a test whose schedule needs more rows than the file has is
    refused before it starts (open model), or stops when they run out (closed model).
    """

    file: str = Field(min_length=1)
    mode: DataMode = "sequential"


class StepRequest(WireModel):
    """An HTTP request of a step. The path (with its query), header values and body may hold references."""

    method: Method | None = None
    path: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _method_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        from sk_loadagent.models.plan import check_endpoint

        parts = parse_template(value)
        check_endpoint("".join(p if isinstance(p, str) else "x" for p in parts))
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER.fullmatch(name):
                raise FieldProblem(
                    f"headers.{name}", "a header name made of letters, digits and -", repr(name)
                )
            if name.lower() in ("content-length", "transfer-encoding", "host"):
                raise FieldProblem(
                    f"headers.{name}", "no Host, Content-Length or Transfer-Encoding (the engine sets them)"
                )
            if any(ord(c) > 255 or (ord(c) < 32 and c != "\t") or ord(c) == 127 for c in text):
                raise FieldProblem(
                    f"headers.{name}", "a header value in ISO-8859-1 (latin-1) without control characters"
                )
        return value

    @model_validator(mode="after")
    def _one_body(self) -> StepRequest:
        if self.json_body is not None and self.body is not None:
            raise FieldProblem("body", "either json or body, not both")
        return self

    def chosen_method(self) -> str:
        return self.method or ("POST" if self.json_body is not None or self.body is not None else "GET")


@dataclass(frozen=True)
class CheckSpec:
    """One check of a step: ``status``, ``equals``, ``exists``, ``length`` (JSONPath) or ``contains``."""

    kind: Literal["status", "equals", "exists", "length", "contains"]
    name: str  # how the check is reported: "status 201", "$.items[0].sku == 'A1'"
    key: str  # the key it was written under in ``check``
    path: str | None = None
    expected: Any = None


@dataclass(frozen=True)
class ExtractSpec:
    """One value a step extracts: from the JSON body (``$...``), a header, or a regex on the body."""

    var: str
    kind: Literal["json", "header", "regex"]
    source: str  # the JSONPath, the header name or the pattern


class StepSpec(WireModel):
    """One step of a flow: an HTTP ``request``, or a call of a user's client (``surface``) with ``params``."""

    model_config = ConfigDict(allow_inf_nan=False)

    name: str | None = Field(default=None, min_length=1)
    request: StepRequest | None = None
    surface: str | None = Field(
        default=None, description="a built-in surface (websocket, grpc, amqp, ...) or a client by import path"
    )
    params: dict[str, Any] | None = None
    websocket: WebSocketSurface | None = None
    grpc: GrpcSurface | None = None
    amqp: AmqpSurface | None = None
    nats: NatsSurface | None = None
    redis: RedisSurface | None = None
    webhook: WebhookSurface | None = None
    job: JobSurface | None = None
    extract: dict[str, str] | None = None
    check: dict[str, Any] | None = None
    think_time: Duration | None = None
    on_fail: OnFail = "stop"

    @field_validator("surface")
    @classmethod
    def _surface(cls, value: str | None) -> str | None:
        if value is not None and value not in BUILT_IN_SURFACES and not _SURFACE.fullmatch(value):
            raise ValueError(
                f"a built-in surface ({', '.join(BUILT_IN_SURFACES)}) or a client class by import path, such "
                "as mypkg.clients:MyClient"
            )
        return value

    @field_validator("extract")
    @classmethod
    def _extract(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for var, source in (value or {}).items():
            problem = _extract_problem(var, source)
            if problem is not None:
                raise FieldProblem(var, problem, repr(source))
        return value

    @field_validator("check")
    @classmethod
    def _check(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            for key, expected in value.items():
                _check_spec(key, expected)
        return value

    def surface_block(self) -> SurfaceBlock | None:
        """The block of a step on a built-in surface."""
        return self.websocket or self.grpc or self.amqp or self.nats or self.redis or self.webhook or self.job

    def call_params(self) -> dict[str, Any] | None:
        """What the step's client renders per call: a built-in surface's message, or a user client's
        ``params``."""
        block = self.surface_block()
        return message_template(block)[0] if block is not None else self.params

    def _built_in_fits(self) -> None:
        blocks = {name: getattr(self, name) for name in BUILT_IN_SURFACES}
        for name, block in blocks.items():
            if block is not None and self.surface != name:
                raise FieldProblem("surface", f"{name} (the step has a {name} block)", repr(self.surface))
        if self.surface not in BUILT_IN_SURFACES:
            return
        if blocks[self.surface] is None:
            raise FieldProblem(
                str(self.surface), f"a {self.surface} block for a step with surface: {self.surface}"
            )
        if self.params is not None:
            raise FieldProblem("params", f"no params in a {self.surface} step (its block says what to send)")
        shape = broker_shape_problem(blocks[self.surface], in_flow=True)
        if shape is not None:
            raise FieldProblem(f"{self.surface}.{shape[0]}", shape[1])

    @model_validator(mode="after")
    def _request_or_surface(self) -> StepSpec:
        self._built_in_fits()
        if self.request is None and self.surface is None:
            raise FieldProblem(
                "request",
                "a request (method and path) or a surface (a client class by import path, such as "
                "mypkg.clients:MyClient)",
            )
        if self.request is not None and self.surface is not None:
            raise FieldProblem("surface", "either request or surface in one step, not both")
        if self.params is not None and self.surface is None:
            raise FieldProblem(
                "params", "no params in an HTTP step (params are passed to a surface's client)"
            )
        return self

    def checks(self) -> list[CheckSpec]:
        return [_check_spec(key, expected) for key, expected in (self.check or {}).items()]

    def extractions(self) -> list[ExtractSpec]:
        out = []
        for var, source in (self.extract or {}).items():
            if source.startswith("header:"):
                out.append(ExtractSpec(var, "header", source[len("header:") :].strip()))
            elif source.startswith("regex:"):
                out.append(ExtractSpec(var, "regex", source[len("regex:") :]))
            else:
                out.append(ExtractSpec(var, "json", source))
        return out

    def templates(self) -> list[tuple[str, Any]]:
        """Every value of the step that may hold references, keyed by where it is written."""
        found: list[tuple[str, Any]] = []
        if self.request is not None:
            found.append(("request.path", self.request.path))
            found += [(f"request.headers.{k}", v) for k, v in self.request.headers.items()]
            if self.request.json_body is not None:
                found.append(("request.json", self.request.json_body))
            if self.request.body is not None:
                found.append(("request.body", self.request.body))
        block = self.surface_block()
        if block is not None:
            message, inside = message_template(block)
            found.append((f"{self.surface}.{inside}" if inside else str(self.surface), message))
        elif self.params is not None:
            found.append(("params", self.params))
        found += [(f"check.{c.key}", c.expected) for c in self.checks() if c.kind in ("equals", "contains")]
        return found

    def references(self) -> list[tuple[str, Ref]]:
        """Every reference of the step with the field it is written in (``request.headers.Authorization``);
        raises FieldProblem naming the field of one that is not a reference."""
        found: list[tuple[str, Ref]] = []
        for where, value in self.templates():
            try:
                refs = template_refs(value)
            except TemplateError as exc:
                raise FieldProblem(where, str(exc), exc.written) from None
            found += [(_join(where, inner), ref) for inner, ref in refs]
        return found


def _extract_problem(var: str, source: str) -> str | None:
    if not _VAR.fullmatch(var) or var in RESERVED_NAMES:
        return (
            "a variable name of letters, digits, _ and - (not uuid, iteration, vu, data or env) "
            f"mapped to $.json.path, header:NAME or regex:PATTERN; got the name {var!r}"
        )
    if source.startswith("header:"):
        if not _HEADER.fullmatch(source[len("header:") :].strip()):
            return "header:NAME with a header name, such as header:Location"
        return None
    if source.startswith("regex:"):
        try:
            re.compile(source[len("regex:") :])
        except re.error as exc:
            return f"regex:PATTERN with a valid regular expression ({exc})"
        return None
    try:
        compile_json_path(source)
    except ValueError as exc:
        return f"a JSONPath such as $.token, header:NAME or regex:PATTERN ({exc})"
    return None


def _check_spec(key: str, expected: Any) -> CheckSpec:
    """The check written as ``key: expected``; raises FieldProblem naming ``<key>`` within ``check``."""
    where = key
    if key == "status":
        codes = expected if isinstance(expected, list) else [expected]
        if not codes or any(
            isinstance(c, bool) or not isinstance(c, int) or not 100 <= c <= 599 for c in codes
        ):
            raise FieldProblem(where, "an HTTP status code between 100 and 599, or a list of them")
        name = f"status {codes[0]}" if len(codes) == 1 else f"status in {codes}"
        return CheckSpec("status", name, key, expected=tuple(codes))
    if key == "bodyContains":
        if not isinstance(expected, str) or not expected:
            raise FieldProblem(where, "the text the response body must contain")
        parse_template(expected)
        return CheckSpec("contains", f"body contains {expected!r}", key, expected=expected)
    if not key.startswith("$"):
        raise FieldProblem(where, f"a check key: {CHECK_KEYS}", repr(key))
    try:
        compile_json_path(key)
    except ValueError as exc:
        raise FieldProblem(where, f"a JSONPath such as $.items[0].sku ({exc})", repr(key)) from None
    if isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)) in CHECK_OPERATORS:
        operator, operand = next(iter(expected.items()))
        if operator == "exists":
            if not isinstance(operand, bool):
                raise FieldProblem(f"{where}.exists", "true or false")
            return CheckSpec("exists", f"{key} {'exists' if operand else 'is absent'}", key, key, operand)
        if operator == "length":
            if isinstance(operand, bool) or not isinstance(operand, int) or operand < 0:
                raise FieldProblem(f"{where}.length", "a length: a whole number, 0 or more")
            return CheckSpec("length", f"{key} length {operand}", key, key, operand)
        expected = operand
    if isinstance(expected, str):
        parse_template(expected)
    return CheckSpec("equals", f"{key} == {_shown(expected)}", key, key, expected)


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_flow(steps: list[StepSpec], data: DataSpec | None) -> None:
    """Names given or derived and unique; every ``${var}`` extracted by an earlier step; ``${data.*}`` only
    with a data file. Raises FieldProblem naming ``flow[i].<field>``."""
    seen: set[str] = set()
    for index, step in enumerate(steps):
        if step.name is None:
            step.name = f"step-{index + 1}"
        if step.name in seen:
            raise FieldProblem(f"flow[{index}].name", "a step name used once in the flow", repr(step.name))
        seen.add(step.name)
    extracted: dict[str, str] = {}
    for index, step in enumerate(steps):
        try:
            references = step.references()
        except FieldProblem as exc:
            raise FieldProblem(f"flow[{index}].{exc.field}", exc.expected, exc.got) from None
        for where, ref in references:
            field = f"flow[{index}].{where}"
            if ref.kind == "var" and ref.name not in extracted:
                raise FieldProblem(
                    field, f"a value an earlier step extracts ({_extracted(extracted)})", ref.text
                )
            if ref.kind == "data" and data is None:
                raise FieldProblem(field, f"a data file to read {ref.text} from (data: {{file: users.csv}})")
            inside = where.removeprefix(str(step.surface))
            if ref.kind == "surface" and not surface_ref_fits(ref.name, step.surface, inside):
                owner = "a webhook's trigger" if ref.name == "webhook.url" else "a job's poll.path"
                raise FieldProblem(field, f"{ref.text} only in {owner}", ref.text)
        for var in step.extract or {}:
            extracted.setdefault(var, step.name or "")


def _extracted(extracted: dict[str, str]) -> str:
    """``login extracts token; cart extracts cartId`` for the message of an unknown ``${var}``."""
    if not extracted:
        return "no step before this one extracts a value"
    by_step: dict[str, list[str]] = {}
    for var, step in extracted.items():
        by_step.setdefault(step, []).append(var)
    return "; ".join(f"{step} extracts {', '.join(names)}" for step, names in by_step.items())


def flow_references(steps: list[StepSpec]) -> list[tuple[str, Ref]]:
    """Every reference of every step, keyed ``flow[i].<field>``."""
    return [(f"flow[{i}].{where}", ref) for i, step in enumerate(steps) for where, ref in step.references()]


def referenced_columns(steps: Sequence[StepSpec]) -> list[str]:
    """The data columns the steps read (``${data.col}``), in order of first use."""
    found: dict[str, None] = {}
    for step in steps:
        for _, ref in step.references():
            if ref.kind == "data":
                found.setdefault(ref.name)
    return list(found)


def referenced_env(steps: Sequence[StepSpec]) -> list[str]:
    """The environment variables the steps read (``${env:NAME}``), in order of first use."""
    found: dict[str, None] = {}
    for step in steps:
        for _, ref in step.references():
            if ref.kind == "env":
                found.setdefault(ref.name)
    return list(found)


__all__ = [
    "CheckSpec",
    "DataSpec",
    "ExtractSpec",
    "Part",
    "Ref",
    "StepRequest",
    "StepSpec",
    "check_flow",
    "flow_references",
    "parse_template",
    "referenced_columns",
    "referenced_env",
    "template_refs",
]
