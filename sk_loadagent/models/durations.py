"""Durations as plans write them: ``30s``, ``5m``, ``1h``, ``1m30s``, ``250ms`` or a number of seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Seconds for a duration; raises ValueError with the accepted forms when it is not one."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 30s, 5m, 1h or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif text and re.fullmatch(rf"(?:{_PART.pattern})+", text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError("a duration such as 30s, 5m, 1h or a number of seconds")
    else:
        raise ValueError("a duration such as 30s, 5m, 1h or a number of seconds")
    if not math.isfinite(seconds):
        # YAML's .inf/.nan: an endless run is never what a plan means, and "inf" cannot be written back.
        raise ValueError("a finite duration such as 30s, 5m or 1h")
    if seconds < 0:
        raise ValueError("a duration that is not negative")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 300 -> '5m', 90 -> '90s', 0.25 -> '250ms'."""
    if seconds == 0:
        return "0s"
    if seconds == int(seconds):
        whole = int(seconds)
        if whole % 3600 == 0:
            return f"{whole // 3600}h"
        if whole % 60 == 0:
            return f"{whole // 60}m"
        return f"{whole}s"
    ms = seconds * 1000
    if abs(ms - round(ms)) < 1e-6:
        return f"{round(ms)}ms"
    return f"{seconds:g}s"


class _DurationSchema:
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: object) -> float:
            try:
                return parse_duration(value)
            except ValueError as exc:
                raise PydanticCustomError("duration", "{expected}", {"expected": str(exc)}) from None

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                format_duration, when_used="json-unless-none"
            ),
            json_schema_input_schema=core_schema.union_schema(
                [core_schema.str_schema(), core_schema.float_schema()]
            ),
        )


Duration = Annotated[float, _DurationSchema]
"""Seconds in Python; the plan's spelling (``5m``) on the wire."""
