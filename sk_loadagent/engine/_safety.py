"""Which hosts a load run may target: loopback always, anything else only when the user allow-listed it."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from sk_loadagent.errors import InputProblem, TargetNotAllowedError

_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
_EXPECTED = "a loopback host (127.0.0.1, ::1, localhost)"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 (also IPv4-mapped) and the name localhost; never resolves other names."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _allowed_by(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower().rstrip(".")
    if pattern.startswith("[") and pattern.endswith("]"):
        pattern = pattern[1:-1]
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def check_target(url: str, allow_hosts: Sequence[str]) -> None:
    """Refuse (TargetNotAllowedError) a URL whose host is neither loopback nor listed in ``allow_hosts``.

    ``allow_hosts`` entries are exact hosts or ``*.example.com`` suffix patterns. No DNS lookups happen here.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise TargetNotAllowedError(
            f"target {url}", [InputProblem("url", "an http:// or https:// URL with a host", repr(url))]
        )
    if is_loopback(host) or any(_allowed_by(host.rstrip("."), p) for p in allow_hosts):
        return
    shown = f"[{host}]" if ":" in host else host
    how = f"to load a non-loopback host, list it under allowHosts in the plan or pass --allow-host {shown}"
    raise TargetNotAllowedError(f"target {url}", [InputProblem("host", _EXPECTED, f"{host}; {how}")])
