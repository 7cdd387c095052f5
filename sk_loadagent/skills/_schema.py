"""The JSON schemas a model sees for the skills' parameters, written by pydantic from our models.

Semantic Kernel builds a tool's parameter schema from the Python annotation, and gets ours wrong:
``dict[str, Any]`` becomes "an object whose every value is an object", and a constrained pydantic field
(``Field(ge=0)``) gets its constraint as its description, which is not valid JSON. So a skill parameter is
annotated ``Annotated[Any, takes(Model, "what it is")]``: Semantic Kernel passes the value through
untouched (our ``_coerce`` functions validate it and name what is wrong), and the schema sent to a model is
the one pydantic writes for ``Model``, with every ``$ref`` inlined (a tool's parameter schema cannot point
outside itself) and titles dropped.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import TypeAdapter
from semantic_kernel.functions import kernel_function

F = TypeVar("F", bound=Callable[..., Any])

# Keys whose values are mappings of names to schemas (not keywords).
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")


def _inline(node: Any, defs: dict[str, Any], open_refs: frozenset[str]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, open_refs) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        if name in open_refs:
            # A model that contains itself (a suite's tests are perf-metrics): one level is spelled out.
            return {**rest, "type": "object", "description": f"a nested {name}, with the same fields"}
        return _inline({**defs[name], **rest}, defs, open_refs | {name})
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("$defs", "title"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _inline(schema, defs, open_refs) for name, schema in value.items()}
        else:
            out[key] = _inline(value, defs, open_refs)
    return out


@functools.cache
def _schema_text(annotation: Any) -> str:
    schema = TypeAdapter(annotation).json_schema(by_alias=True, mode="validation")
    return json.dumps(_inline(schema, schema.get("$defs", {}), frozenset()))


def tool_schema(annotation: Any, description: str | None = None) -> dict[str, Any]:
    """The self-contained JSON schema of ``annotation`` (a model, or a type such as ``list[int] | None``)."""
    schema: dict[str, Any] = json.loads(_schema_text(annotation))
    if description:
        schema["description"] = description
    return schema


def takes(annotation: Any, description: str) -> dict[str, Any]:
    """``Annotated`` metadata for a kernel function parameter: its description and its schema."""
    return {"description": description, "schema_data": tool_schema(annotation, description)}


HIDDEN: dict[str, Any] = {"include_in_function_choices": False}
"""``Annotated`` metadata for a parameter the host sets and a model must not see (nor fill)."""


def tool_function(*, name: str, description: str) -> Callable[[F], F]:
    """``kernel_function`` for parameters annotated with ``takes``: one with a default is optional.

    (Semantic Kernel counts a parameter whose default is None as required unless its annotation admits
    None, and ``Any`` does not say so.)
    """

    def decorate(func: F) -> F:
        marked = kernel_function(name=name, description=description)(func)
        defaults = {n for n, p in inspect.signature(func).parameters.items() if p.default is not p.empty}
        for parameter in marked.__kernel_function_parameters__:
            if parameter["name"] in defaults:
                parameter["is_required"] = False
        return marked  # type: ignore[no-any-return]

    return decorate
