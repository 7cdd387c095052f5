"""Which proxy a run goes through: the plan's ``proxy``, else ``HTTPS_PROXY`` / ``HTTP_PROXY`` from the
environment (with ``NO_PROXY``), never one for a loopback target from the environment.

A loopback target bypasses environment proxies as Go's ``ProxyFromEnvironment`` (and so k6) does: a proxy
set for the machine's outbound traffic is not meant for a service on the same machine. A plan that names a
proxy gets it whatever the target. Proxies are reached through httpx (CONNECT for https://, absolute-form
requests for http://).
"""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit, urlunsplit

from sk_loadagent.engine._safety import is_loopback
from sk_loadagent.errors import InputError


def environment_proxy(url: str) -> str | None:
    """The environment's proxy for ``url`` (``https_proxy`` for https://, ``http_proxy`` for http://,
    ``all_proxy`` for both), or None when there is none, ``no_proxy`` lists the host, or it is loopback."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(parts.netloc, proxies):  # type: ignore[attr-defined]
        return None
    if is_loopback(parts.hostname or ""):  # last: it may resolve the name
        return None
    variable = f"{parts.scheme.upper()}_PROXY" if proxies.get(parts.scheme) else "ALL_PROXY"
    proxy_parts = urlsplit(proxy)
    if proxy_parts.scheme not in ("http", "https") or not proxy_parts.hostname:
        raise InputError.single(
            "environment",
            variable,
            "an http:// or https:// proxy URL such as http://127.0.0.1:3128",
            redact(proxy),
        )
    return proxy


def redact(proxy: str) -> str:
    """The proxy URL without its password, for anything shown or written."""
    parts = urlsplit(proxy)
    if parts.password is None:
        return proxy
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
