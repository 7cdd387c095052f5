"""Secrets never leave the process: every value known to be one is written as ``***``.

Three kinds of value are secrets: the values of ``${env:NAME}`` references, credentials in a URL
(``http://user:password@host``), and the values of headers named in the plan's ``secrets:`` list (with
``Authorization``, ``Cookie`` and ``X-Api-Key`` there by default). Where a secret is known to sit (a URL's
credentials, a secret header's value) it is masked in place; besides, each one is registered here when the
plan is interpreted or a flow is built, and every writer that leaves the process masks what it writes:
artifacts (``atomic.write_atomic``), memory (``RunRecord``), the command line's output and error lines, and
the digest an LLM is shown. Values shorter than ``MIN_SEARCHED`` characters are masked only in place:
searching free text for them would mask every other word.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
DEFAULT_SECRET_HEADERS: tuple[str, ...] = ("Authorization", "Cookie", "X-Api-Key")
MIN_SEARCHED = 4

_lock = threading.Lock()
_known: tuple[str, ...] = ()  # longest first, so a secret that contains another is masked whole

T = TypeVar("T")


def register(values: Iterable[str | None]) -> None:
    """Remember secret values for ``mask_text``; short and empty ones are only masked in place."""
    global _known
    fresh = {v for v in values if v and len(v) >= MIN_SEARCHED}
    if not fresh:
        return
    with _lock:
        merged = set(_known) | fresh
        _known = tuple(sorted(merged, key=lambda v: (-len(v), v)))


def forget_all() -> None:
    """Forget every registered secret (for tests)."""
    global _known
    with _lock:
        _known = ()


def mask_text(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    known = _known
    if not known:
        return text
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return text


def mask_bytes(data: bytes) -> bytes:
    """``mask_text`` for bytes that are UTF-8 text (other bytes are returned as they are)."""
    if not _known:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    masked = mask_text(text)
    return data if masked == text else masked.encode("utf-8")


def mask_data(value: T) -> T:
    """A JSON-like value (text, lists, mappings) with every registered secret masked in its text."""
    if not _known:
        return value
    return _masked(value)  # type: ignore[no-any-return]


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_text(k) if isinstance(k, str) else k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def url_credentials(url: str) -> list[str]:
    """The password (or a lone user name, a token) in a URL's ``user:password@``."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return []
    if password:
        return [password]
    return [user] if user else []


def mask_url(url: str) -> str:
    """``http://user:***@host/...``: the URL with its password (or lone user name) masked."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return url
    if user is None and password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    shown = f"{user}:{MASK}" if password is not None else MASK
    return urlunsplit((parts.scheme, f"{shown}@{host}", parts.path, parts.query, parts.fragment))


def secret_header_names(extra: Iterable[str] | None = None) -> frozenset[str]:
    """The header names whose values are secrets, lower-cased: the defaults and the plan's ``secrets``."""
    return frozenset(name.lower() for name in (*DEFAULT_SECRET_HEADERS, *(extra or ())))
