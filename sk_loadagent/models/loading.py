"""Reading contract files: every failure names the file, the field and what was expected.

Messages read ``<file>: <field>: expected <what>, got <value>``. Pydantic's raw errors are reworded here:
union members are not listed as if they were fields, a value that fits none of a union's shapes is
reported once, and an unknown field gets the nearest known name as a suggestion.

Reading is bounded: a file over the ``file`` cap, a YAML document over the ``values`` cap once its aliases
are expanded (counted on the node graph, before anything is expanded), a key given twice or a document
nested too deeply is refused before any model sees it.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, RootModel, ValidationError
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import ErrorDetails

from sk_loadagent.errors import InputError, InputProblem
from sk_loadagent.models._base import FieldProblem
from sk_loadagent.models.caps import Caps, format_size

M = TypeVar("M", bound=BaseModel)
# The caps that bound reading a document when the caller passes none (memory and connections do not apply).
DOCUMENT_CAPS = Caps(memory=None, connections=None)

_MAX_GOT = 60
_NUMBER_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
# Errors that only say "this value has the wrong shape": inside a union they are noise when another member
# of the union got further and found the real problem.
_SHAPE_ERRORS = {
    "model_type",
    "model_attributes_type",
    "dict_type",
    "list_type",
    "tuple_type",
    "set_type",
    "string_type",
    "int_type",
    "int_parsing",
    "int_from_float",
    "float_type",
    "float_parsing",
    "bool_type",
    "bool_parsing",
    "none_required",
    "is_instance_of",
}
_SHAPE_WORDS = {
    "model_type": "a mapping of fields",
    "model_attributes_type": "a mapping of fields",
    "dict_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "none_required": "nothing (null)",
    "datetime_type": "a date and time such as 2025-01-31T12:00:00Z",
    "datetime_parsing": "a date and time such as 2025-01-31T12:00:00Z",
    "datetime_from_date_parsing": "a date and time such as 2025-01-31T12:00:00Z",
}
_NO_DATA = object()


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('tests', 1, 'rps')`` -> ``tests[1].rps``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = str(part)
    return text


def _child(data: Any, part: int | str) -> tuple[bool, Any]:
    """The value under ``part`` in the parsed document, trying the spellings pydantic accepts."""
    if isinstance(part, int):
        if isinstance(data, list) and -len(data) <= part < len(data):
            return True, data[part]
        return False, None
    if isinstance(data, dict):
        for key in (part, to_snake(part), to_camel(part)):
            if key in data:
                return True, data[key]
    return False, None


def _clean_loc(
    loc: tuple[int | str, ...], data: Any, missing: bool
) -> tuple[tuple[int | str, ...], tuple[int | str, ...] | None]:
    """Drop the parts of an error location that name union members or validators rather than fields.

    Walks the parsed document along the location: a string that is no key there is a union member's tag,
    unless it is the last part of a ``missing`` error (a missing field is absent by definition). Returns
    the cleaned location and the raw location of the first union the error came through (or None).
    A discriminated union should therefore use tags that cannot be field names (class names, say).
    """
    kept: list[int | str] = []
    union_at: tuple[int | str, ...] | None = None
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(part, str) and part.startswith("function-"):
            continue
        found, value = _child(current, part)
        if found or isinstance(part, int) or (last and missing):
            kept.append(part)
            current = value
        elif union_at is None:
            union_at = loc[:index]
    return tuple(kept), union_at


def _strip_validator_parts(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found += _models_in(arg)
    return found


def _wire_names(model: type[BaseModel]) -> dict[str, str]:
    """Every spelling a field of ``model`` is accepted under -> the spelling to suggest."""
    names: dict[str, str] = {}
    for name, info in model.model_fields.items():
        shown = info.alias or name
        names[name] = shown
        names[shown] = shown
        choices = getattr(info.validation_alias, "choices", None)
        for choice in choices or ([info.validation_alias] if isinstance(info.validation_alias, str) else []):
            if isinstance(choice, str):
                names[choice] = shown
    return names


def _known_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The wire names of the fields allowed where ``loc`` points (loc's last part is the unknown field)."""
    candidates: list[type[BaseModel]] = [model]
    if issubclass(model, RootModel):
        candidates = _models_in(model.model_fields["root"].annotation)
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        inner: list[type[BaseModel]] = []
        for candidate in candidates:
            names = _wire_names(candidate)
            if part in names:
                field = next(f for n, f in candidate.model_fields.items() if (f.alias or n) == names[part])
                inner += _models_in(field.annotation)
        if inner:  # otherwise the part is a key of a dict of models: stay with the same models
            candidates = inner
    known: list[str] = []
    for candidate in candidates:
        known += [shown for shown in dict.fromkeys(_wire_names(candidate).values()) if shown not in known]
    return known


def _unknown_field(loc: tuple[int | str, ...], model: type[BaseModel] | None) -> str:
    name = loc[-1] if loc else ""
    if model is not None and isinstance(name, str):
        close = [
            f"'{c}'" for c in difflib.get_close_matches(name, _known_fields(model, loc), n=3, cutoff=0.6)
        ]
        if close:
            options = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
            return f"a known field name (did you mean {options}?)"
    return "a known field name (this one is not part of the contract)"


def _bound_words(item: ErrorDetails) -> str:
    ctx = item.get("ctx") or {}
    kind = "items" if isinstance(item.get("input"), list | dict) else "characters"
    count = ctx.get("min_length", ctx.get("max_length"))
    if item["type"] in ("too_short", "string_too_short"):
        if kind == "characters":
            return "some text" if count == 1 else f"text of at least {count} characters"
        return f"at least {count} item" + ("" if count == 1 else "s")
    return f"at most {count} {kind if count != 1 else kind[:-1]}"


def _expected(item: ErrorDetails, loc: tuple[int | str, ...], model: type[BaseModel] | None) -> str:
    msg, error_type = item["msg"], item["type"]
    if error_type == "missing":
        return "a value (this field is required)"
    if error_type == "extra_forbidden":
        return _unknown_field(loc, model)
    if error_type in _NUMBER_BOUNDS:
        return f"a number {msg.removeprefix('Input should be ')}"
    if error_type == "literal_error":
        choices = str((item.get("ctx") or {}).get("expected", msg.removeprefix("Input should be ")))
        return f"one of {choices}" if " or " in choices else choices
    if error_type in ("too_short", "too_long", "string_too_short", "string_too_long"):
        return _bound_words(item)
    if error_type in ("model_type", "model_attributes_type") and not loc and model is not None:
        return f"a mapping of fields (a {model.__name__} document)"
    if error_type in _SHAPE_WORDS:
        return _SHAPE_WORDS[error_type]
    for prefix in ("Input should be ", "Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg[0].lower() + msg[1:] if msg else "a valid value"


def _got(value: Any, error_type: str) -> str | None:
    if error_type in ("missing", "extra_forbidden"):
        return None
    if value is None:
        return "nothing"
    if isinstance(value, list | dict) and not value:
        return "an empty list" if isinstance(value, list) else "an empty mapping"
    if error_type in _SHAPE_ERRORS and isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_GOT else text[: _MAX_GOT - 3] + "..."


def _join_path(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return f"{prefix}.{path}" if path and not path.startswith("[") else f"{prefix}{path}"


def _without_union_noise(
    items: list[tuple[ErrorDetails, tuple[int | str, ...], tuple[int | str, ...] | None]],
) -> list[tuple[ErrorDetails, tuple[int | str, ...], tuple[int | str, ...] | None]]:
    """Per union, drop the shape errors of members when another member got past its shape check: it
    failed on something other than shape, or on the shape of a value nested inside the union's own."""
    real: set[tuple[int | str, ...]] = {
        u
        for item, loc, u in items
        if u is not None and (item["type"] not in _SHAPE_ERRORS or len(loc) > len(u))
    }
    kept = []
    for item, loc, union_at in items:
        if (
            union_at is not None
            and item["type"] in _SHAPE_ERRORS
            and len(loc) <= len(union_at)
            and union_at in real
        ):
            continue
        kept.append((item, loc, union_at))
    return kept


def problems_from(
    error: ValidationError,
    prefix: str = "",
    *,
    data: Any = _NO_DATA,
    model: type[BaseModel] | None = None,
) -> list[InputProblem]:
    """Reword a ValidationError; give ``data`` (the validated document) to drop union-member noise and
    ``model`` to get spelling suggestions for unknown fields."""
    located: list[tuple[ErrorDetails, tuple[int | str, ...], tuple[int | str, ...] | None]] = []
    for item in error.errors(include_url=False):
        if data is _NO_DATA:
            located.append((item, _strip_validator_parts(item["loc"]), None))
        else:
            located.append((item, *_clean_loc(item["loc"], data, item["type"] == "missing")))
    problems: list[InputProblem] = []
    shapes_by_path: dict[str, InputProblem] = {}
    for item, loc, union_at in _without_union_noise(located):
        path = _join_path(prefix, field_path(loc))
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblem):
            value = item.get("input")
            field_value = value.get(cause.field) if isinstance(value, dict) else None
            path = f"{path}.{cause.field}" if path else cause.field
            problems.append(
                InputProblem(path, cause.expected, None if field_value is None else _got(field_value, ""))
            )
            continue
        problem = InputProblem(path, _expected(item, loc, model), _got(item.get("input"), item["type"]))
        if union_at is not None and item["type"] in _SHAPE_ERRORS:
            # A value that fits none of a union's shapes: one problem listing every shape that would do.
            earlier = shapes_by_path.get(path)
            if earlier is not None:
                if problem.expected not in earlier.expected.split(" or "):
                    earlier.expected += f" or {problem.expected}"
                continue
            shapes_by_path[path] = problem
        problems.append(problem)
    return problems


def validate_document(data: Any, model: type[M], source: str, *, strict: bool = False) -> M:
    """Validate already-parsed data; raises InputError with every problem at once.

    ``strict`` is for what a user wrote: numbers must be finite numbers (not ``true``, not ``"5"``, not
    ``.inf``) and booleans ``true`` or ``false`` (not ``yes`` or ``1``).
    """
    if strict:
        _check_finite(data, source)
    try:
        return model.model_validate(data, strict=strict or None)
    except ValidationError as exc:
        raise InputError(source, problems_from(exc, data=data, model=model)) from None


def _check_finite(data: Any, source: str) -> None:
    """Refuse YAML's .inf/.nan and JSON's Infinity/NaN wherever they are (no field means "forever")."""
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(data, ())]
    seen: set[int] = set()  # an aliased YAML value is one object: check it once
    while stack:
        value, loc = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError.single(source, field_path(loc), "a finite number", _got(value, ""))
        if isinstance(value, dict | list) and id(value) not in seen:
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack += [(child, (*loc, k if isinstance(k, int | str) else str(k))) for k, child in items]


def _syntax_error(reason: str) -> str:
    return f"a syntax error ({reason.strip()})"


def read_text(path: str | Path, *, caps: Caps | None = None) -> str:
    """The text of a file; a missing, unreadable, binary or oversized file is an InputError naming it."""
    source = str(path)
    limit = (caps or DOCUMENT_CAPS).file
    try:
        with open(path, "rb") as handle:
            raw = handle.read() if limit is None else handle.read(limit + 1)
    except FileNotFoundError:
        raise InputError.single(source, "<file>", "an existing file", "no file at this path") from None
    except IsADirectoryError:
        raise InputError.single(source, "<file>", "a file", "a directory") from None
    except PermissionError:
        raise InputError.single(source, "<file>", "a readable file", "permission denied") from None
    if limit is not None and len(raw) > limit:
        expected = f"a file of at most {format_size(limit)} ({(caps or DOCUMENT_CAPS).explain('file')})"
        raise InputError.single(source, "<file>", expected, "a larger file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError.single(source, "<file>", "UTF-8 text", "binary data") from None


class _DuplicateKey(Exception):
    def __init__(self, key: object, where: str, first_line: int | None) -> None:
        super().__init__(key)
        self.key = key
        self.where = where
        self.first_line = first_line


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error, not "last one wins"."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged in with << may be overridden: that is what merging is for
            key = self.construct_object(key_node, deep=True)
            mark = key_node.start_mark
            try:
                if key in first_line:
                    where = f"line {mark.line + 1} column {mark.column + 1}"
                    raise _DuplicateKey(key, where, first_line[key])
                first_line[key] = mark.line + 1
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
        return super().construct_mapping(node, deep)


# YAML 1.1 reads 1e9 as text (its floats need a dot and a signed exponent); YAML 1.2 and JSON read a number.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789")
)


class _Recursive(Exception):
    pass


def _expanded_values(root: yaml.Node) -> tuple[int, int]:
    """How many values the document holds once every alias is expanded, counted without expanding it, and
    how many nodes it has (fewer when an alias repeats one)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Recursive
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        sizes[key] = total
        return total

    return size(root), len(sizes)


def _unshared(value: Any) -> Any:
    """A copy in which no list or mapping appears twice: aliases expanded here, in Python, where the work is
    bounded by the values cap and Ctrl-C stops it (pydantic and json.dumps would expand them in native code
    that never looks at signals)."""
    if isinstance(value, dict):
        return {key: _unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared(item) for item in value]
    return value


def _load_yaml(text: str, source: str, caps: Caps) -> Any:
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        limit = caps.values
        try:
            values, nodes = _expanded_values(root)
        except _Recursive:
            raise InputError.single(
                source, "", "a document without recursive aliases", "an alias inside itself"
            ) from None
        if limit is not None and values > limit:
            expected = f"at most {limit:,} values once YAML aliases are expanded ({caps.explain('values')})"
            raise InputError.single(source, "", expected, f"{values:,} values")
        data = loader.construct_document(root)
        return _unshared(data) if values > nodes else data
    except yaml.YAMLError as exc:
        raise _yaml_error(source, exc) from None
    except _DuplicateKey as dup:
        first = f" (first on line {dup.first_line})" if dup.first_line is not None else ""
        raise InputError.single(
            source, dup.where, "each key once in a mapping", f"{dup.key!r} a second time{first}"
        ) from None
    finally:
        loader.dispose()


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key, key, None)
        found[key] = value
    return found


def read_document(path: str | Path, *, caps: Caps | None = None) -> Any:
    """Parse a YAML or JSON file (JSON is YAML, but its errors read better from the json module).

    A key given twice, a document over the caps (file size, values once YAML aliases expand) or nested
    too deeply to read is an InputError naming the file.
    """
    source = str(path)
    caps = caps or DOCUMENT_CAPS
    text = read_text(path, caps=caps)
    try:
        if Path(path).suffix.lower() == ".json":
            return _load_json(text, source)
        return _load_yaml(text, source, caps)
    except RecursionError:
        raise InputError.single(source, "", "a document nested less deeply", "too many levels") from None


def _load_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InputError.single(source, where, "valid JSON", _syntax_error(exc.msg)) from None
    except _DuplicateKey as dup:
        raise InputError.single(source, dup.where, "each key once in an object", "it twice") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise InputError.single(source, "", "valid JSON", _syntax_error(str(exc))) from None


def _yaml_error(source: str, exc: yaml.YAMLError) -> InputError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return InputError.single(source, where, "valid YAML", _syntax_error(str(reason)))


def load_document(path: str | Path, model: type[M], *, caps: Caps | None = None) -> M:
    """Read a contract file and validate it strictly against its model."""
    data = read_document(path, caps=caps)
    if data is None:
        raise InputError.single(str(path), "", f"a {model.__name__} document", "an empty file")
    return validate_document(data, model, str(path), strict=True)
