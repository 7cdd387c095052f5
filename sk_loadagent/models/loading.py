"""Reading contract files: every failure names the file, the field and what was expected.

Messages read ``<file>: <field>: expected <what>, got <value>``. Pydantic's raw errors are reworded here:
union members are not listed as if they were fields, a value that fits none of a union's shapes is
reported once, and an unknown field gets the nearest known name as a suggestion.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, RootModel, ValidationError
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import ErrorDetails

from sk_loadagent.errors import InputError, InputProblem
from sk_loadagent.models._base import FieldProblem

M = TypeVar("M", bound=BaseModel)

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


def validate_document(data: Any, model: type[M], source: str) -> M:
    """Validate already-parsed data; raises InputError with every problem at once."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(source, problems_from(exc, data=data, model=model)) from None


def _syntax_error(reason: str) -> str:
    return f"a syntax error ({reason.strip()})"


def read_text(path: str | Path) -> str:
    """The text of a file; a missing, unreadable or binary file is an InputError naming it."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError.single(source, "<file>", "an existing file", "no file at this path") from None
    except IsADirectoryError:
        raise InputError.single(source, "<file>", "a file", "a directory") from None
    except PermissionError:
        raise InputError.single(source, "<file>", "a readable file", "permission denied") from None
    except UnicodeDecodeError:
        raise InputError.single(source, "<file>", "UTF-8 text", "binary data") from None


def read_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML, but its errors read better from the json module)."""
    source = str(path)
    p = Path(path)
    text = read_text(path)
    if p.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            raise InputError.single(source, where, "valid JSON", _syntax_error(exc.msg)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError.single(source, where, "valid YAML", _syntax_error(str(reason))) from None


def load_document(path: str | Path, model: type[M]) -> M:
    """Read a contract file and validate it against its model."""
    data = read_document(path)
    if data is None:
        raise InputError.single(str(path), "", f"a {model.__name__} document", "an empty file")
    return validate_document(data, model, str(path))
