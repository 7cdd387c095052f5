"""A flow compiled for running: templates, checks and extractions of each step, and the data rows.

``FlowPlan`` is what a LoadProfile carries to the workers (the steps as the plan wrote them, the data rows
read once in the parent, default headers). ``compile_flow`` turns it into ``CompiledFlow`` in each worker and,
in the parent, once beforehand, so that an unset ``${env:NAME}`` or a client class that cannot be imported
fails before any load. Environment values are resolved at compile time and never leave the worker's memory.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import orjson

from sk_loadagent.engine._requests import USER_AGENT
from sk_loadagent.engine.clients.base import Call, load_client
from sk_loadagent.engine.result import Outcome
from sk_loadagent.models.flow import CheckSpec, ExtractSpec, Ref, StepSpec, parse_template
from sk_loadagent.models.jsonpath import MISSING, JsonPath, compile_json_path
from sk_loadagent.models.surfaces import BUILT_IN_SURFACES, HTTP_SURFACES, SurfaceBlock
from sk_loadagent.secrets import register

HTTP = "http"
# Path and query: a substituted value is percent-encoded except for what is safe inside a segment or value.
_PATH_SAFE = "-._~!$'()*,;:@"
_VAR, _DATA, _UUID, _ITERATION, _VU = range(5)
_KINDS = {"var": _VAR, "data": _DATA, "uuid": _UUID, "iteration": _ITERATION, "vu": _VU}
_BAD_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


@dataclass(frozen=True)
class DataTable:
    """The rows of a flow's data file (header row first in the file) and how they are handed out."""

    file: str
    mode: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def size_bytes(self) -> int:
        return sum(len(cell) for row in self.rows for cell in row) + 56 * len(self.rows)


@dataclass(frozen=True)
class StepBlock:
    """A flow step on a built-in surface: its index, the client key its calls use (its own hub) and its
    block."""

    index: int
    key: str
    block: SurfaceBlock


@dataclass(frozen=True)
class FlowPlan:
    """A flow as the workers receive it."""

    steps: tuple[StepSpec, ...]
    data: DataTable | None = None
    headers: tuple[tuple[str, str], ...] = ()  # defaults every HTTP step's own headers override
    think_time: float = 0.0  # closed model: the pause between one iteration and the next
    # A broker surface's test (surface: amqp|nats|redis): one step, a message each, on the block's broker;
    # reported as a plain test (its calls are the requests), not as a flow of steps.
    surface: SurfaceBlock | None = None

    @property
    def step_names(self) -> list[str]:
        return [s.name or "" for s in self.steps]

    @property
    def targets(self) -> list[str]:
        """What each step calls, for artifacts: ``POST /auth/login``, ``nats >appointments.booked``, or a
        user client's import path."""
        return [_target_of(s) for s in self.steps]

    @property
    def uses_http(self) -> bool:
        """Whether a step is an HTTP request, a webhook or a job (a flow of other surfaces and users' clients
        alone reaches no base URL)."""
        return any(s.request is not None or s.surface in HTTP_SURFACES for s in self.steps)

    def step_blocks(self) -> list[StepBlock]:
        """The steps on a built-in surface, in order."""
        found = []
        for index, step in enumerate(self.steps):
            block = step.surface_block()
            if block is not None:
                found.append(StepBlock(index, step_client(index, str(step.surface)), block))
        return found

    @property
    def uses_head(self) -> bool:
        return any(s.request is not None and s.request.chosen_method() == "HEAD" for s in self.steps)

    def largest_body(self) -> tuple[int, int]:
        """The largest request body a step writes as the plan spells it (references unfilled), and its
        step's index."""
        sizes = [(len(_body_text(s).encode()), i) for i, s in enumerate(self.steps)]
        return max(sizes, default=(0, 0))

    def iteration_bound(self, timeout: float) -> float:
        """The longest one iteration may legitimately take: every step's timeout and think time."""
        return sum(timeout + (s.think_time or 0.0) for s in self.steps)


def _target_of(step: StepSpec) -> str:
    if step.request is not None:
        return f"{step.request.chosen_method()} {step.request.path}"
    block = step.surface_block()
    return f"{step.surface} {block.target()}" if block is not None else str(step.surface)


def _body_text(step: StepSpec) -> str:
    if step.request is None:
        return json.dumps(step.call_params() or {})
    if step.request.json_body is not None:
        return json.dumps(step.request.json_body, separators=(",", ":"))
    return step.request.body or ""


class FlowBuildError(ValueError):
    """A flow that cannot run: the ``field`` of the test (``flow[1].request.headers.X``), what would do, and
    what was found."""

    def __init__(self, field: str, expected: str, got: str | None = None) -> None:
        super().__init__(f"{field}: expected {expected}")
        self.field = field
        self.expected = expected
        self.got = got


class MissingValue(Exception):
    """A ``${var}`` an earlier step did not extract in this iteration (its extraction failed)."""


class BadValue(Exception):
    """A substituted value that cannot go where it is used (a line break in a header value)."""


# -- data ----------------------------------------------------------------------------------------------------
def parse_data(text: str, *, file: str, mode: str, needed: Sequence[str]) -> DataTable:
    """The rows of a CSV document; raises FlowBuildError (field ``data.file``) when it is empty, lacks a
    column a step reads, or holds a control character (a value could end up in a header)."""
    reader = csv.reader(io.StringIO(text))
    try:
        table = [row for row in reader if row and any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise FlowBuildError("data.file", "a CSV file with a header row", f"{file} ({exc})") from None
    if len(table) < 2:
        got = "an empty file" if not table else "a header row and no data rows"
        raise FlowBuildError(
            "data.file", "a CSV file with a header row and at least one row", f"{file}: {got}"
        )
    columns = tuple(c.strip() for c in table[0])
    missing = [c for c in needed if c not in columns]
    if missing:
        raise FlowBuildError(
            "data.file",
            f"a CSV file whose header names every column the flow reads ({', '.join(missing)} missing)",
            f"{file} with columns {', '.join(columns)}",
        )
    rows = []
    for number, row in enumerate(table[1:], start=2):
        if len(row) != len(columns):
            raise FlowBuildError(
                "data.file",
                f"{len(columns)} values on every row (one per column)",
                f"{file} line {number} with {len(row)}",
            )
        for cell in row:
            if any(ord(c) < 32 or ord(c) == 127 for c in cell):
                raise FlowBuildError(
                    "data.file", "values without control characters", f"{file} line {number}"
                )
        rows.append(tuple(row))
    return DataTable(file=file, mode=mode, columns=columns, rows=tuple(rows))


class RowSource:
    """Which row each iteration reads. Iteration ``index`` counts over the whole run (every worker)."""

    def __init__(self, table: DataTable | None, worker: int) -> None:
        self.table = table
        self._rng = random.Random(0x5EED + worker)

    def row(self, index: int) -> tuple[str, ...] | None:
        """The row of iteration ``index``; None when a ``unique`` file has no row left for it."""
        table = self.table
        if table is None:
            return ()
        rows = table.rows
        if table.mode == "random":
            return rows[self._rng.randrange(len(rows))]
        if table.mode == "unique":
            return rows[index] if index < len(rows) else None
        return rows[index % len(rows)]


# -- iterations and templates --------------------------------------------------------------------------------
class IterationState:
    """What one iteration's steps share: its number, VU, data row and the values its steps extracted."""

    __slots__ = ("_uuid", "index", "row", "values", "vu")

    def __init__(self, index: int, vu: int, row: tuple[str, ...]) -> None:
        self.index = index
        self.vu = vu
        self.row = row
        self.values: dict[str, str] = {}
        self._uuid: str | None = None

    def uuid(self) -> str:
        if self._uuid is None:
            self._uuid = _uuids.next()
        return self._uuid


# A UUID's variant digit (the 17th): its two high bits are 10 (RFC 4122), its two low bits stay random.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


class _Uuids:
    """Random (version 4) UUIDs as text, from OS randomness drawn 512 at a time: half the cost of
    ``str(uuid.uuid4())``, which draws 16 bytes and builds an object per UUID."""

    _BATCH = 512

    def __init__(self) -> None:
        self._random = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._forget)  # a forked child must not repeat the parent's

    def _forget(self) -> None:
        self._random, self._at = b"", 0

    def next(self) -> str:
        at = self._at
        if at >= len(self._random):
            self._random, at = os.urandom(16 * self._BATCH), 0
        self._at = at + 16
        text = self._random[at : at + 16].hex()
        # The 13th digit is the version (4), the 17th the variant: random bits give way to both.
        return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:]}"


_uuids = _Uuids()


Escape = Callable[[str], str]


def _as_is(value: str) -> str:
    return value


def _path_value(value: str) -> str:
    return quote(value, safe=_PATH_SAFE)


def _json_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _header_value(value: str) -> str:
    if value.isascii() and value.isprintable():  # the usual value, checked without the pattern
        return value
    if _BAD_HEADER.search(value):
        raise BadValue("a header value with a line break, a control or a non-latin-1 character")
    return value


Reader = Callable[["IterationState"], str]  # what a reference reads in an iteration, escaped for its place


class Template:
    """Text with references, compiled: literal texts (environment values already in) and, for each reference,
    a reader of its value escaped for where it is used."""

    __slots__ = ("_one", "_parts", "static")

    def __init__(self, text: str, escape: Escape, columns: Sequence[str]) -> None:
        parts: list[str | Reader] = []
        for part in parse_template(text):
            if isinstance(part, str):
                parts.append(part)
            elif part.kind == "env":
                parts.append(escape(_env(part)))
            elif part.kind == "surface":
                parts.append(part.text)  # as written: the surface's client fills it per call
            elif part.kind == "data":
                parts.append(_reader(_DATA, columns.index(part.name), escape))
            else:
                parts.append(_reader(_KINDS[part.kind], part.name, escape))
        self._set(parts)

    @classmethod
    def joined(cls, pieces: Sequence[str | Template]) -> Template:
        """One template of texts and templates in a row (each reference keeps its escape)."""
        joined = cls.__new__(cls)
        parts: list[str | Reader] = []
        for piece in pieces:
            parts += [piece] if isinstance(piece, str) else piece._parts
        joined._set(parts)
        return joined

    def _set(self, parts: list[str | Reader]) -> None:
        merged: list[str | Reader] = []
        for part in parts:
            last = merged[-1] if merged else None
            if isinstance(part, str) and isinstance(last, str):
                merged[-1] = last + part
            elif not isinstance(part, str) or part:
                merged.append(part)
        self._parts = tuple(merged)
        first = merged[0] if merged else ""
        self.static: str | None = first if isinstance(first, str) and len(merged) <= 1 else None
        # The usual template: one reference between two texts, filled without a loop.
        self._one: tuple[str, Reader, str] | None = None
        readers = [part for part in merged if not isinstance(part, str)]
        if len(readers) == 1:
            at = merged.index(readers[0])
            before = merged[at - 1] if at > 0 else ""
            after = merged[at + 1] if at + 1 < len(merged) else ""
            if isinstance(before, str) and isinstance(after, str):
                self._one = (before, readers[0], after)

    @property
    def one(self) -> tuple[str, Reader, str] | None:
        """The template as (text, reference, text) when it has exactly one reference."""
        return self._one

    def render(self, it: IterationState) -> str:
        if self.static is not None:
            return self.static
        one = self._one
        if one is not None:
            before, read, after = one
            return before + read(it) + after
        return "".join([part if isinstance(part, str) else part(it) for part in self._parts])


def json_template(tree: Any) -> Template:
    """The JSON text of a params tree (``_tree``: texts compiled into Templates) as one Template: rendering
    it gives what ``orjson.dumps`` of the rendered tree gives, without building the tree per call."""
    pieces: list[str | Reader] = []

    def walk(node: Any) -> None:
        if isinstance(node, Template):
            pieces.append('"')
            pieces.extend(_json_string(p) if isinstance(p, str) else _in_json(p) for p in node._parts)
            pieces.append('"')
        elif isinstance(node, dict):
            pieces.append("{")
            for at, (key, value) in enumerate(node.items()):
                pieces.append(("," if at else "") + json.dumps(str(key), ensure_ascii=False) + ":")
                walk(value)
            pieces.append("}")
        elif isinstance(node, list):
            pieces.append("[")
            for at, value in enumerate(node):
                if at:
                    pieces.append(",")
                walk(value)
            pieces.append("]")
        else:
            pieces.append(orjson.dumps(node).decode())

    walk(tree)
    template = Template.__new__(Template)
    template._set(pieces)
    return template


def _in_json(read: Reader) -> Reader:
    """A reference's reader whose value goes inside a JSON string."""
    if read is IterationState.uuid:
        return read  # hex digits and dashes

    def escaped(it: IterationState) -> str:
        value = read(it)
        if value.isprintable() and '"' not in value and "\\" not in value:  # nothing JSON escapes
            return value
        return _json_string(value)

    return escaped


def _reader(kind: int, key: Any, escape: Escape) -> Reader:
    """The reader of one reference: an extracted value, a data column, or a built-in value."""
    if kind == _VAR and escape is _header_value:

        def extracted_header(it: IterationState) -> str:
            found = it.values.get(key)
            if found is None:
                raise MissingValue(key)
            return found if found.isascii() and found.isprintable() else escape(found)

        return extracted_header
    if kind == _VAR:

        def extracted(it: IterationState) -> str:
            found = it.values.get(key)
            if found is None:
                raise MissingValue(key)
            return escape(found)

        return extracted
    if kind == _DATA:
        return lambda it: escape(it.row[key])
    if kind == _UUID:
        return IterationState.uuid
    if kind == _ITERATION:
        return lambda it: str(it.index)
    return lambda it: str(it.vu)


def _env(ref: Ref) -> str:
    """An environment value (checked to be set by ``compile_flow``); registered as a secret."""
    value = os.environ.get(ref.name, "")
    register([value])
    return value


def _tree(value: Any, columns: Sequence[str]) -> Any:
    """A params value with each text compiled into a Template."""
    if isinstance(value, str):
        return Template(value, _as_is, columns)
    if isinstance(value, dict):
        return {k: _tree(v, columns) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v, columns) for v in value]
    return value


def _rendered(value: Any, it: IterationState) -> Any:
    if isinstance(value, Template):
        return value.render(it)
    if isinstance(value, dict):
        return {k: _rendered(v, it) for k, v in value.items()}
    if isinstance(value, list):
        return [_rendered(v, it) for v in value]
    return value


# -- checks and extraction -----------------------------------------------------------------------------------
class Answer(Protocol):
    """What checks and extractions read of a reply: a ``Reply``, or the fast connection that got it."""

    @property
    def status(self) -> int | None: ...

    @property
    def body(self) -> bytes: ...

    @property
    def headers(self) -> dict[str, str]: ...


class _Check:
    __slots__ = ("expected", "kind", "name", "path")

    def __init__(self, spec: CheckSpec, columns: Sequence[str]) -> None:
        self.kind = spec.kind
        self.name = spec.name
        self.path: JsonPath | None = compile_json_path(spec.path) if spec.path else None
        expected = spec.expected
        self.expected: Any = Template(expected, _as_is, columns) if isinstance(expected, str) else expected

    def passed(self, document: Any, body: bytes, it: IterationState) -> bool:
        expected = self.expected.render(it) if isinstance(self.expected, Template) else self.expected
        if self.kind == "contains":
            return bool(expected.encode() in body)
        assert self.path is not None
        value = self.path.first(document)
        if self.kind == "exists":
            return (value is not MISSING) == expected
        if self.kind == "length":
            return isinstance(value, list | dict | str) and len(value) == expected
        return value is not MISSING and _equal(value, expected)


def _equal(value: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return type(value) is type(expected) and value == expected
    return bool(value == expected)


class _Extract:
    __slots__ = ("_path", "_pattern", "kind", "source", "var")

    def __init__(self, spec: ExtractSpec) -> None:
        self.var = spec.var
        self.kind = spec.kind
        self.source = spec.source.lower() if spec.kind == "header" else spec.source
        self._path = compile_json_path(spec.source) if spec.kind == "json" else None
        self._pattern = re.compile(spec.source.encode()) if spec.kind == "regex" else None

    def value(self, document: Any, reply: Answer) -> str | None:
        if self.kind == "header":
            return reply.headers.get(self.source)
        if self._pattern is not None:
            match = self._pattern.search(reply.body)
            if match is None:
                return None
            found = match.group(1) if match.re.groups else match.group(0)
            return found.decode("utf-8", "replace")
        assert self._path is not None
        value = self._path.first(document)
        if value is MISSING:
            return None
        if isinstance(value, str):
            return value
        return orjson.dumps(value).decode()


_NOT_JSON = object()
_PASSED = (Outcome.OK, 1, 0)  # a step's status check passed, and it has no other


def _document(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _NOT_JSON


# -- steps ---------------------------------------------------------------------------------------------------
@dataclass
class CompiledStep:
    """One step, ready to render its call and judge its reply."""

    index: int
    name: str
    client: str  # "http", or a surface's import path
    target: str  # for artifacts: "POST /auth/login" or the surface
    think: float
    stop_on_fail: bool
    method: str = "GET"
    path: Template | None = None
    headers: list[tuple[str, Template]] = field(default_factory=list)
    body: Template | None = None
    params: Any = None
    status: tuple[int, ...] | None = None
    status_name: str = ""
    checks: list[_Check] = field(default_factory=list)
    extracts: list[_Extract] = field(default_factory=list)
    want_body: bool = False
    want_json: bool = False  # a check or an extraction reads the body as JSON (a path)
    want_headers: bool = False
    # Only a status check (the common step): a reply with that status passes without reading anything else.
    status_only: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.status_only = self.status is not None and not self.checks and not self.extracts

    @property
    def check_names(self) -> list[str]:
        names = [self.status_name] if self.status is not None else []
        return names + [c.name for c in self.checks]

    def rendered_params(self, it: IterationState) -> Any:
        """A surface step's params in iteration ``it``; raises MissingValue or BadValue."""
        return _rendered(self.params, it)

    def call(self, it: IterationState) -> Call:
        """The call of this step in iteration ``it``; raises MissingValue or BadValue."""
        if self.client != HTTP:
            return Call(self.name, it.index, it.vu, params=_rendered(self.params, it))
        assert self.path is not None
        body = self.body.render(it).encode() if self.body is not None else b""
        return Call(
            self.name,
            it.index,
            it.vu,
            method=self.method,
            path=self.path.render(it),
            headers=[(name, value.render(it)) for name, value in self.headers],
            body=body,
            want_body=self.want_body,
            want_headers=self.want_headers,
        )

    def judge(self, reply: Answer, it: IterationState) -> tuple[Outcome, int, int]:
        """The step's outcome from its reply, how many of its checks ran (in ``check_names`` order: the
        status first) and which of those failed (bit k set: check k failed). Extracted values go into
        ``it.values``."""
        status = reply.status
        if self.status_only and status in self.status:  # type: ignore[operator]  # status_only: a tuple
            return _PASSED
        ran = failed = 0
        if self.status is not None:
            ran = 1
            if status not in self.status:
                if status is not None and 400 <= status < 600:
                    return (Outcome.HTTP_4XX if status < 500 else Outcome.HTTP_5XX), 1, 1
                return Outcome.CHECK, 1, 1
        elif status is not None and not 200 <= status < 400:
            if 400 <= status < 500:
                return Outcome.HTTP_4XX, 0, 0
            return (Outcome.HTTP_5XX if 500 <= status < 600 else Outcome.UNEXPECTED_STATUS), 0, 0
        outcome = Outcome.OK
        document: Any = _NOT_JSON
        if self.want_json and reply.body:
            document = _document(reply.body)
        for check in self.checks:
            if not check.passed(document, reply.body, it):
                failed |= 1 << ran
                outcome = Outcome.CHECK
            ran += 1
        for extract in self.extracts:
            value = extract.value(document, reply)
            if value is None:
                if outcome == Outcome.OK:
                    outcome = Outcome.EXTRACT
            else:
                it.values[extract.var] = value
        return outcome, ran, failed


@dataclass
class CompiledFlow:
    steps: list[CompiledStep]
    rows: RowSource
    surfaces: dict[str, type[Any]]  # import path -> client class
    think_time: float


def compile_flow(plan: FlowPlan, *, worker: int = 0) -> CompiledFlow:
    """The runnable flow; raises FlowBuildError naming ``flow[i].<field>`` when it cannot run here."""
    columns = plan.data.columns if plan.data is not None else ()
    steps: list[CompiledStep] = []
    surfaces: dict[str, type[Any]] = {}
    for index, spec in enumerate(plan.steps):
        for where, ref in spec.references():
            if ref.kind == "env" and ref.name not in os.environ:
                raise FlowBuildError(
                    f"flow[{index}].{where}",
                    f"the environment variable {ref.name} to be set ({ref.text})",
                    f"no {ref.name} in the environment",
                )
        steps.append(_compile_step(index, spec, plan.headers, columns))
        if spec.surface in BUILT_IN_SURFACES:
            continue  # the worker's hubs make their clients (engine.clients._surfaces)
        if spec.surface is not None and spec.surface not in surfaces:
            try:
                surfaces[spec.surface] = load_client(spec.surface)
            except ValueError as exc:
                raise FlowBuildError(
                    f"flow[{index}].surface",
                    "a client class by import path (package.module:ClassName) whose module can be imported, "
                    "with async connect, call and close (see sk_loadagent.engine.clients.Client)",
                    f"{spec.surface!r}: {exc}",
                ) from None
    return CompiledFlow(steps, RowSource(plan.data, worker), surfaces, plan.think_time)


def step_client(index: int, surface: str) -> str:
    """The client key of a flow step on a built-in surface: each step has its own block, so its own hub."""
    return f"{surface}@{index}"


def _compile_step(
    index: int, spec: StepSpec, defaults: Sequence[tuple[str, str]], columns: Sequence[str]
) -> CompiledStep:
    name = spec.name or f"step-{index + 1}"
    status: tuple[int, ...] | None = None
    status_name = ""
    checks = []
    for check in spec.checks():
        if check.kind == "status":
            status, status_name = tuple(check.expected), check.name
        else:
            checks.append(_Check(check, columns))
    extracts = [_Extract(e) for e in spec.extractions()]
    step = CompiledStep(
        index=index,
        name=name,
        client=HTTP if spec.request is not None else str(spec.surface),
        target="",
        think=spec.think_time or 0.0,
        stop_on_fail=spec.on_fail == "stop",
        status=status,
        status_name=status_name,
        checks=checks,
        extracts=extracts,
        want_body=any(c.kind != "status" for c in spec.checks()) or any(e.kind != "header" for e in extracts),
        # A body that is not JSON costs a raised decode error: parsed only where a path reads it.
        want_json=any(c.path is not None for c in checks) or any(e.kind == "json" for e in extracts),
        want_headers=any(e.kind == "header" for e in extracts),
    )
    if spec.request is None:
        step.target = str(spec.surface)
        step.params = _tree(spec.call_params() or {}, columns)
        block = spec.surface_block()
        if block is not None:
            step.client = step_client(index, str(spec.surface))
            step.target = f"{spec.surface} {block.target()}"
        return step
    request = spec.request
    step.method = request.chosen_method()
    step.target = f"{step.method} {request.path}"
    step.path = Template(request.path, _path_value, columns)
    merged = {"User-Agent": USER_AGENT, **dict(defaults)}
    lower = {k.lower(): k for k in merged}
    for key, value in request.headers.items():
        merged.pop(lower.get(key.lower(), key), None)
        merged[key] = value
    if request.json_body is not None:
        body_text = json.dumps(request.json_body, separators=(",", ":"), ensure_ascii=False)
        step.body = Template(body_text, _json_string, columns)
        if not any(k.lower() == "content-type" for k in merged):
            merged["Content-Type"] = "application/json"
    elif request.body is not None:
        step.body = Template(request.body, _as_is, columns)
    step.headers = [(k, Template(v, _header_value, columns)) for k, v in merged.items()]
    return step


__all__ = [
    "BadValue",
    "CompiledFlow",
    "CompiledStep",
    "DataTable",
    "FlowBuildError",
    "FlowPlan",
    "IterationState",
    "MissingValue",
    "RowSource",
    "compile_flow",
    "parse_data",
]
