"""Caps: the most one run may ask of the machine that generates its load (README, "Caps").

A plan over a cap is refused before any request is sent, naming the file, the field and the cap. The
machine-derived caps (memory, connections) are computed by ``sk_loadagent.engine.machine_caps``; the others
are fixed defaults. ``--cap NAME=VALUE`` (``parse_cap``) sets one, ``--cap NAME=off`` switches it off.
"""

from __future__ import annotations

import math
import re

from pydantic import ConfigDict, Field

from sk_loadagent.errors import InputError
from sk_loadagent.models._base import WireModel
from sk_loadagent.models.durations import format_duration, parse_duration

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

DEFAULT_DURATION = 24 * 3600.0
DEFAULT_BODY = 16 * MIB
DEFAULT_VALUES = 1_000_000
DEFAULT_FILE = 32 * MIB

_SIZE = re.compile(r"(\d+(?:\.\d+)?(?:e\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": KIB,
    "mib": MIB,
    "gib": GIB,
    "tib": 1024 * GIB,
}
_COUNT = re.compile(r"\d[\d_]*|\d+(?:\.\d+)?e\d+", re.IGNORECASE)
_SIZE_WORDS = "a size such as 512MiB, 8GiB or a number of bytes, or off"
_COUNT_WORDS = "a whole number such as 50000 or 1e6, or off"
# What each cap holds, how --cap spells its value, and what --cap's message says it expects.
CAP_KINDS: dict[str, str] = {
    "memory": "size",
    "connections": "count",
    "duration": "duration",
    "body": "size",
    "values": "count",
    "file": "size",
}
DEFAULT_WHY = {
    "duration": "the default, so that a typo cannot hold a CI job for days",
    "body": "the default",
    "values": "the default, against YAML alias bombs",
    "file": "the default",
}
_PLACEHOLDER = {"size": "SIZE", "count": "N", "duration": "DURATION"}
# Fields a k6 or Locust user may reach for that are bounded through another cap.
_BOUNDED_BY = {
    "rps": "the memory cap, which bounds the backlog and samples a rate needs",
    "rate": "the memory cap, which bounds the backlog and samples a rate needs",
    "vus": "the connections cap (one connection per VU) and the memory cap",
    "maxconnections": "the connections cap",
}


class Caps(WireModel):
    """The caps in effect; ``None`` means the cap is off. ``why`` says where each value came from."""

    model_config = ConfigDict(frozen=True)

    memory: int | None = Field(description="bytes of generator memory the plan may drive")
    connections: int | None = Field(description="open connections (sockets) a test may hold")
    duration: float | None = Field(default=DEFAULT_DURATION, description="seconds of schedule per test")
    body: int | None = Field(default=DEFAULT_BODY, description="bytes of one request body")
    values: int | None = Field(default=DEFAULT_VALUES, description="values of one input document")
    file: int | None = Field(default=DEFAULT_FILE, description="bytes of one input file")
    processes: int = Field(default=1, ge=1, description="generator processes the caps were derived for")
    why: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_WHY))

    def explain(self, name: str) -> str:
        """``the memory cap: half of the 22 GiB this machine has available; --cap memory=SIZE changes it``."""
        reason = self.why.get(name, "the default")
        return f"the {name} cap: {reason}; --cap {name}={_PLACEHOLDER[CAP_KINDS[name]]} changes it"

    def with_overrides(self, overrides: dict[str, float | None]) -> Caps:
        """These caps with ``--cap`` values in place (``None``: off)."""
        if not overrides:
            return self
        update: dict[str, object] = {}
        why = dict(self.why)
        for name, value in overrides.items():
            update[name] = value if value is None or CAP_KINDS[name] == "duration" else int(value)
            why[name] = "set with --cap" if value is not None else "off, with --cap"
        update["why"] = why
        return self.model_copy(update=update)


def format_size(nbytes: float) -> str:
    """``16 MiB``, ``11.2 GiB``, ``512 B``: binary units, at most one decimal."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            text = f"{value:.1f}".removesuffix(".0") if unit != "B" else f"{value:.0f}"
            return f"{text} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns at TiB


def format_cap(name: str, value: float | None) -> str:
    if value is None:
        return "off"
    kind = CAP_KINDS[name]
    if kind == "size":
        return format_size(value)
    if kind == "duration":
        return format_duration(value)
    return f"{int(value):,}"


def parse_cap(text: str) -> tuple[str, float | None]:
    """One ``--cap NAME=VALUE``: the cap's name and its value in bytes, seconds or a count (None: off)."""
    name, separator, raw = text.partition("=")
    name, raw = name.strip().lower(), raw.strip()
    if name not in CAP_KINDS:
        names = list(CAP_KINDS)
        known = f"{', '.join(names[:-1])} or {names[-1]}"
        hint = f" ({name} is bounded by {_BOUNDED_BY[name]})" if name in _BOUNDED_BY else ""
        raise InputError.single("--cap", name or "NAME", f"a cap name: {known}{hint}", repr(text))
    kind = CAP_KINDS[name]
    words = {"size": _SIZE_WORDS, "count": _COUNT_WORDS, "duration": "a duration such as 48h, or off"}[kind]
    if not separator or not raw:
        raise InputError.single("--cap", name, words, repr(text))
    if raw.lower() == "off":
        return name, None
    value = _parse_value(kind, raw)
    if value is None or not math.isfinite(value) or value <= 0:
        raise InputError.single("--cap", name, words, repr(raw))
    return name, value


def _parse_value(kind: str, raw: str) -> float | None:
    if kind == "duration":
        try:
            return parse_duration(raw)
        except ValueError:
            return None
    if kind == "size":
        match = _SIZE.fullmatch(raw.replace("_", ""))
        if match is None:
            return None
        return float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    if _COUNT.fullmatch(raw) is None:
        return None
    value = float(raw.replace("_", ""))
    return value if value == int(value) else None
