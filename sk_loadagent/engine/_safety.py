"""Which hosts a load run may target: loopback always, anything else only when the user allow-listed it."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from sk_loadagent.errors import InputProblem, TargetNotAllowedError

_EXPECTED = "a loopback host (127.0.0.1, ::1, localhost)"


def is_loopback(host: str) -> bool:
    """The one loopback rule, for every decision that a target is local (allowed, or its process sampled).

    True for 127.0.0.0/8, ::1 (also IPv4-mapped), ``localhost`` and ``localhost.``, and a name every address
    of which is loopback (an /etc/hosts alias, say). Literal addresses and the localhost names are decided
    without a lookup; other names are resolved with the system resolver. The transport resolves the name
    again when it connects: a name whose DNS answers change in between (rebinding by whoever runs its DNS)
    is outside what this guard can see.
    """
    name = host.strip().strip("[]").lower()
    if name.rstrip(".") == "localhost":
        return True
    try:
        return _loopback_address(ipaddress.ip_address(name))
    except ValueError:
        return _resolves_only_to_loopback(name)


def _loopback_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _resolves_only_to_loopback(name: str) -> bool:
    if not name:
        return False
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        addresses = {ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos}
    except (OSError, UnicodeError, ValueError):
        return False
    return bool(addresses) and all(_loopback_address(a) for a in addresses)


def allow_listed(host: str, allow_hosts: Sequence[str]) -> bool:
    """True when ``host`` matches an ``allowHosts`` entry (an exact host or a ``*.example.com`` pattern)."""
    return any(_allowed_by(host.lower().rstrip("."), p) for p in allow_hosts)


def loopback_address(address: str) -> bool:
    """True for a literal loopback address (127.0.0.0/8, ::1, IPv4-mapped ones too); False for a name."""
    try:
        return _loopback_address(ipaddress.ip_address(address.strip("[]").partition("%")[0]))
    except ValueError:
        return False


def _allowed_by(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower().rstrip(".")
    if pattern.startswith("[") and pattern.endswith("]"):
        pattern = pattern[1:-1]
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def check_target(
    url: str, allow_hosts: Sequence[str], role: str = "target", schemes: Sequence[str] = ("http", "https")
) -> None:
    """Refuse (TargetNotAllowedError) a URL whose host is neither loopback nor listed in ``allow_hosts``.

    ``allow_hosts`` entries are exact hosts or ``*.example.com`` suffix patterns. A name that is neither a
    literal loopback host nor allow-listed is resolved (``is_loopback``) before it is refused.
    ``role`` names the URL in the message: the target, the proxy that load would pass through, or a broker
    (``schemes`` then its URL schemes, such as amqp and amqps).
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in schemes or not host:
        shown = " or ".join(f"{s}://" for s in schemes)
        problem = InputProblem("url", f"an {shown} URL with a host", repr(url))
        raise TargetNotAllowedError(f"{role} {url}", [problem])
    if allow_listed(host, allow_hosts) or is_loopback(host):
        return
    shown = f"[{host}]" if ":" in host else host
    how = f"to load a non-loopback host, list it under allowHosts in the plan or pass --allow-host {shown}"
    if role.startswith(("broker", "endpoint")):
        how = (
            f"to load a non-loopback {role.split()[0]}, list it under allowHosts or pass --allow-host {shown}"
        )
    elif role != "target":
        how = f"to send load through a non-loopback {role}, list it under allowHosts or --allow-host {shown}"
    raise TargetNotAllowedError(f"{role} {url}", [InputProblem("host", _EXPECTED, f"{host}; {how}")])
