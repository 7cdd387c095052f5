"""Request bodies and parameter values that satisfy an OpenAPI schema: the document's example when it is
valid, otherwise a value built from the schema, and a check of the result with jsonschema.

OpenAPI 3.0 schemas are JSON Schema draft 4 with ``nullable``; 3.1 schemas are JSON Schema 2020-12. Both
are checked with the matching jsonschema validator after ``nullable`` is turned into a ``null`` type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema

from sk_loadagent.agent.openapi import OpenApiDocument, has_example

# Beyond this depth an object gets only its required properties, and a recursive schema stops.
_MAX_DEPTH = 6
_FORMATS = {
    "date-time": "2025-01-01T09:30:00Z",
    "date": "2025-01-01",
    "time": "09:30:00",
    "email": "user@example.com",
    "uuid": "00000000-0000-4000-8000-000000000001",
    "uri": "https://example.com/resource",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
_NOT_SCHEMA = {"example", "examples", "default", "enum", "const", "x-example"}


@dataclass(frozen=True)
class Sample:
    """A value for a schema, where it came from, and why it does not satisfy the schema (None if it does)."""

    value: Any
    origin: str
    problem: str | None = None


def _json_schema(node: Any) -> Any:
    """An OpenAPI schema as JSON Schema: ``nullable: true`` becomes a ``null`` type; the rest is kept."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k in _NOT_SCHEMA else _json_schema(v)) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif kind is None:
            return {"anyOf": [out, {"type": "null"}]}
    return out


def schema_problem(document: OpenApiDocument, schema: dict[str, Any], value: Any) -> str | None:
    """Why ``value`` does not satisfy ``schema`` (its ``$ref``s resolved in ``document``), or None."""
    root = _json_schema(schema)
    if not isinstance(root, dict):
        return None
    # Local references (#/components/...) resolve against the root, so the components travel with it.
    root = {**root, "components": _json_schema(document.data.get("components") or {})}
    validator_class = (
        jsonschema.Draft202012Validator if document.version.startswith("3.1") else jsonschema.Draft4Validator
    )
    error = jsonschema.exceptions.best_match(validator_class(root).iter_errors(value))
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.') or 'the value'}: {error.message}"


class _Builder:
    def __init__(self, document: OpenApiDocument, where: str) -> None:
        self.document = document
        self.where = where

    def build(self, schema: Any, depth: int = 0, refs: frozenset[str] = frozenset()) -> Any:
        if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if ref in refs or depth > _MAX_DEPTH:
                return None
            refs = refs | {ref}
        schema = self.document.resolve(schema, self.where)
        if not isinstance(schema, dict):
            return None
        for key in ("example", "default", "const"):
            if key in schema:
                return schema[key]
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return schema["examples"][0]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        if isinstance(schema.get("allOf"), list):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.build(part, depth + 1, refs)
                if not isinstance(value, dict):
                    return value
                merged.update(value)
            return merged
        for key in ("oneOf", "anyOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.build(schema[key][0], depth + 1, refs)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return self._typed(str(kind), schema, depth, refs)

    def _typed(self, kind: str, schema: dict[str, Any], depth: int, refs: frozenset[str]) -> Any:
        if kind == "object":
            properties = schema.get("properties") or {}
            required = set(schema.get("required") or [])
            names = [n for n in properties if depth < _MAX_DEPTH or n in required]
            return {n: self.build(properties[n], depth + 1, refs) for n in names}
        if kind == "array":
            count = max(1, int(schema.get("minItems") or 1))
            return [self.build(schema.get("items") or {}, depth + 1, refs) for _ in range(count)]
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return _text(schema)


def _number(schema: dict[str, Any], *, integer: bool) -> float | int:
    low, high = schema.get("minimum"), schema.get("maximum")
    step = 1 if integer else 0.5
    value: float = 1
    if isinstance(low, int | float):
        value = max(value, low + (step if schema.get("exclusiveMinimum") is True else 0))
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        value = max(value, schema["exclusiveMinimum"] + step)
    if isinstance(high, int | float):
        value = min(value, high - (step if schema.get("exclusiveMaximum") is True else 0))
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        value = max(multiple, round(value / multiple) * multiple)
    return int(value) if integer else float(value)


def _text(schema: dict[str, Any]) -> str:
    text = _FORMATS.get(str(schema.get("format")), "sample")
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text += "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def sample_for(document: OpenApiDocument, schema: dict[str, Any] | None, example: Any, where: str) -> Sample:
    """The document's example when it satisfies the schema, else a value built from the schema.

    An example that fails its schema is not used; the sample then says so in ``origin``. A built value that
    still fails (a ``pattern`` this builder cannot satisfy, say) carries the problem, for the plan's comment.
    """
    if schema is None:
        return Sample(example if has_example(example) else None, "the document's example")
    rejected = None
    if has_example(example):
        rejected = schema_problem(document, schema, example)
        if rejected is None:
            return Sample(example, "the document's example")
    value = _Builder(document, f"{where}.schema").build(schema)
    origin = "built from the schema"
    if rejected is not None:
        origin += f" (the document's example does not satisfy it: {rejected})"
    return Sample(value, origin, schema_problem(document, schema, value))
