"""JSONPath (RFC 9535) for flow checks and extraction: parsed by ``jsonpath-rfc9535``, evaluated fast.

A step's response body is searched once per step of every iteration, so the common case must cost next to
nothing: a *singular query* (RFC 9535 §2.3.5.1: names and indexes only, such as ``$.token`` or
``$.items[0].sku``) is compiled into a tuple of keys walked directly, about ten times faster than the
general evaluator, which every other query (wildcards, slices, filters, descendants) still uses.
"""

from __future__ import annotations

from typing import Any, Final

import jsonpath_rfc9535
from jsonpath_rfc9535.segments import JSONPathChildSegment
from jsonpath_rfc9535.selectors import IndexSelector, NameSelector


class _Missing:
    """What a query that selects nothing returns from ``first``."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class JsonPath:
    """A compiled query: ``find`` returns every selected value, ``first`` the first one or ``MISSING``."""

    __slots__ = ("_keys", "_query", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self._query = jsonpath_rfc9535.compile(text)
        except jsonpath_rfc9535.JSONPathError as exc:
            raise ValueError(_reason(exc)) from None
        self._keys = _singular_keys(self._query)

    @property
    def singular(self) -> bool:
        """True when the query selects at most one value (RFC 9535 singular query)."""
        return self._keys is not None

    def first(self, document: Any) -> Any:
        keys = self._keys
        if keys is None:
            node = self._query.find_one(document)
            return MISSING if node is None else node.value
        value = document
        for key in keys:
            if type(key) is str:
                if type(value) is not dict or key not in value:
                    return MISSING
                value = value[key]
            else:
                if type(value) is not list:
                    return MISSING
                try:
                    value = value[key]  # type: ignore[index]
                except IndexError:
                    return MISSING
        return value

    def find(self, document: Any) -> list[Any]:
        if self._keys is not None:
            value = self.first(document)
            return [] if value is MISSING else [value]
        return list(self._query.find(document).values())


def compile_json_path(text: str) -> JsonPath:
    """A compiled JSONPath; raises ValueError saying why ``text`` is not one."""
    if not text.startswith("$"):
        raise ValueError("a JSONPath starting with $")
    return JsonPath(text)


def _singular_keys(query: Any) -> tuple[str | int, ...] | None:
    keys: list[str | int] = []
    for segment in query.segments:
        if type(segment) is not JSONPathChildSegment or len(segment.selectors) != 1:
            return None
        selector = segment.selectors[0]
        if type(selector) is NameSelector:
            keys.append(selector.name)
        elif type(selector) is IndexSelector:
            keys.append(selector.index)
        else:
            return None
    return tuple(keys)


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
