"""An OpenAPI 3 document (generated.api.yaml, spec cycle 3) read as the designer needs it: its operations,
their parameters and request bodies, with local ``$ref``s resolved.

Only what the designer acts on is checked: the document is a mapping with ``openapi: 3.x`` and ``paths``;
every ``$ref`` an operation uses points into the document. Each problem is an InputError naming the file,
the place in the document and what was expected. References to other files are not followed (the designer
reads one document); such a reference is reported like an unresolvable one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sk_loadagent.errors import InputError
from sk_loadagent.models.loading import read_document

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_MAX_REF_HOPS = 32


def _pointer_parts(ref: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")] if ref != "#" else []


@dataclass(frozen=True)
class OpenApiDocument:
    """A parsed OpenAPI 3 document and the file it came from."""

    source: str
    data: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.data.get("openapi"))

    def resolve(self, node: Any, where: str) -> Any:
        """``node`` with its ``$ref`` (and a chain of them) followed; an InputError at ``where`` if not."""
        hops = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise InputError.single(
                    self.source,
                    f"{where}.$ref",
                    "a reference into this document (#/components/...)",
                    repr(ref),
                )
            target: Any = self.data
            for part in _pointer_parts(ref):
                if isinstance(target, dict) and part in target:
                    target = target[part]
                elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                    target = target[int(part)]
                else:
                    raise InputError.single(
                        self.source,
                        f"{where}.$ref",
                        "a reference to a definition in this document",
                        f"{ref!r}, which does not exist",
                    )
            hops += 1
            if hops > _MAX_REF_HOPS:
                raise InputError.single(
                    self.source,
                    f"{where}.$ref",
                    "a reference that leads to a definition",
                    f"{ref!r} (a loop)",
                )
            node = target
        return node

    def operations(self) -> Iterator[Operation]:
        """Every operation, in document order, with path-level parameters merged into its own."""
        paths = self.data["paths"]
        for path, item in paths.items():
            where = f"paths.{path}"
            if not isinstance(path, str) or not path.startswith("/"):
                raise InputError.single(self.source, where, "a path starting with '/'", repr(path))
            item = self.resolve(item, where)
            if not isinstance(item, dict):
                raise InputError.single(self.source, where, "a path item (a mapping of operations)")
            shared = self._parameters(item.get("parameters"), f"{where}.parameters")
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                op_where = f"{where}.{method}"
                raw = item[method]
                if not isinstance(raw, dict):
                    raise InputError.single(self.source, op_where, "an operation (a mapping)")
                own = self._parameters(raw.get("parameters"), f"{op_where}.parameters")
                merged = {(p.location, p.name): p for p in [*shared, *own]}
                yield Operation(
                    document=self,
                    path=path,
                    method=method.upper(),
                    where=op_where,
                    operation_id=raw.get("operationId"),
                    summary=raw.get("summary"),
                    tags=[str(t) for t in raw.get("tags") or []],
                    module_id=raw.get("x-moduleId"),
                    deprecated=bool(raw.get("deprecated")),
                    parameters=list(merged.values()),
                    request_body=self._body(raw.get("requestBody"), f"{op_where}.requestBody"),
                    responses=[str(code) for code in (raw.get("responses") or {})],
                    callbacks=bool(raw.get("callbacks")),
                    marked_async=bool(raw.get("x-async")),
                )

    def _parameters(self, raw: Any, where: str) -> list[Parameter]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise InputError.single(self.source, where, "a list of parameters")
        found = []
        for i, item in enumerate(raw):
            at = f"{where}[{i}]"
            param = self.resolve(item, at)
            if not isinstance(param, dict) or not isinstance(param.get("name"), str):
                raise InputError.single(self.source, f"{at}.name", "the parameter's name")
            location = param.get("in")
            if location not in ("path", "query", "header", "cookie"):
                raise InputError.single(
                    self.source, f"{at}.in", "one of path, query, header, cookie", repr(location)
                )
            found.append(
                Parameter(
                    name=param["name"],
                    location=location,
                    required=bool(param.get("required")) or location == "path",
                    schema=param.get("schema") or {},
                    example=_first_example(self, param, at),
                    where=at,
                )
            )
        return found

    def _body(self, raw: Any, where: str) -> RequestBody | None:
        if raw is None:
            return None
        body = self.resolve(raw, where)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, dict) or not content:
            raise InputError.single(self.source, f"{where}.content", "a mapping of media types to schemas")
        media_type = next((m for m in content if m.split(";")[0].strip().endswith("json")), None)
        if media_type is None:
            return RequestBody(
                required=bool(body.get("required")), media_type=next(iter(content)), where=where
            )
        media = self.resolve(content[media_type], f"{where}.content.{media_type}")
        media_where = f"{where}.content.{media_type}"
        schema = media.get("schema") if isinstance(media, dict) else None
        if schema is not None:
            self.check_refs(schema, f"{media_where}.schema")
        return RequestBody(
            required=bool(body.get("required")),
            media_type=media_type,
            schema=schema,
            example=_first_example(self, media, media_where) if isinstance(media, dict) else _NONE,
            where=media_where,
        )

    def check_refs(self, node: Any, where: str, seen: frozenset[str] = frozenset()) -> None:
        """Every ``$ref`` under ``node`` resolves (a recursive schema is followed once)."""
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref in seen:
                return
            if ref is not None:
                self.check_refs(self.resolve(node, where), where, seen | {str(ref)})
            for key, value in node.items():
                if key not in ("$ref", "example", "examples", "default", "enum", "const"):
                    self.check_refs(value, f"{where}.{key}", seen)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self.check_refs(value, f"{where}[{i}]", seen)


class _Missing:
    def __repr__(self) -> str:
        return "<no example>"


_NONE: Any = _Missing()


def has_example(value: Any) -> bool:
    return value is not _NONE


def _first_example(document: OpenApiDocument, node: dict[str, Any], where: str) -> Any:
    """``example``, else the first of ``examples`` (an Example object's ``value``), else no example."""
    if "example" in node:
        return node["example"]
    examples = node.get("examples")
    if isinstance(examples, dict) and examples:
        name = next(iter(examples))
        first = document.resolve(examples[name], f"{where}.examples.{name}")
        if isinstance(first, dict) and "value" in first:
            return first["value"]
    return _NONE


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    required: bool
    schema: dict[str, Any]
    example: Any
    where: str


@dataclass(frozen=True)
class RequestBody:
    required: bool
    media_type: str
    where: str
    schema: dict[str, Any] | None = None
    example: Any = _NONE


@dataclass(frozen=True)
class Operation:
    """One operation: ``POST /checkout/submit`` with what the designer needs to call it."""

    document: OpenApiDocument
    path: str
    method: str
    where: str
    operation_id: str | None
    summary: str | None
    tags: list[str]
    module_id: str | None
    deprecated: bool
    parameters: list[Parameter] = field(default_factory=list)
    request_body: RequestBody | None = None
    responses: list[str] = field(default_factory=list)
    callbacks: bool = False
    marked_async: bool = False

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_async(self) -> bool:
        """An operation that only enqueues work: it answers 202, declares callbacks or says ``x-async``."""
        successes = [c for c in self.responses if c.startswith("2")]
        return self.callbacks or self.marked_async or (bool(successes) and successes == ["202"])

    def belongs_to(self, module_id: str) -> bool:
        return self.module_id == module_id or module_id in self.tags


def load_openapi(path: str | Path) -> OpenApiDocument:
    """Read and check an OpenAPI 3 document; InputError names the file and field of the first problem."""
    source = str(path)
    data = read_document(path)
    if not isinstance(data, dict):
        raise InputError.single(source, "", "an OpenAPI document (a mapping)", type(data).__name__)
    version = data.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        got = f"swagger {data['swagger']}" if "swagger" in data else repr(version)
        raise InputError.single(source, "openapi", "an OpenAPI 3 version such as 3.0.3 or 3.1.0", got)
    paths = data.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise InputError.single(source, "paths", "a mapping of paths to operations", repr(paths))
    return OpenApiDocument(source, data)
