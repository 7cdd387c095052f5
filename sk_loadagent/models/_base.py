"""Base classes for the wire contracts: snake_case in Python, camelCase on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel


def _from_iso(value: Any) -> Any:
    """An ISO 8601 text as a datetime, so a timestamp reads the same under strict validation (which takes
    no text for a datetime) as in lax; anything else goes on to pydantic's own check and its message."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


Timestamp = Annotated[datetime, BeforeValidator(_from_iso)]
"""A datetime field of a contract: ISO 8601 text on the wire, in strict validation (user files) too."""


class WireModel(BaseModel):
    """A contract we own: unknown fields are errors, so a typo in a plan never passes silently."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        str_strip_whitespace=True,
    )

    def to_wire(self, *, exclude_none: bool = True) -> dict[str, Any]:
        """The JSON-ready dict with the spec's field names."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)


class OpenWireModel(WireModel):
    """A contract another agent owns: unknown fields are kept and written back unchanged."""

    model_config = ConfigDict(extra="allow")


class FieldProblem(ValueError):
    """Raised by a model validator to point at one field (by its wire name) rather than the whole object."""

    def __init__(self, field: str, expected: str, got: str | None = None) -> None:
        super().__init__(expected)
        self.field = field
        self.expected = expected
        self.got = got  # shown as given; None: the value found under ``field``, if any
