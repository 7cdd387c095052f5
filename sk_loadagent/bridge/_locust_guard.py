"""Loaded by Locust beside a user's locustfile (``--locustfile theirs.py,this.py``): every name the run
resolves must be loopback or allowed, so a locustfile that names another host fails its requests there.

Allowed hosts come in ``SK_LOADAGENT_ALLOW_HOSTS`` (comma-separated, as ``--allow-host`` takes them). Both
of Locust's clients resolve through ``getaddrinfo`` (requests via the socket module, FastHttpUser via
gevent's), which Locust has monkey-patched before it loads locustfiles.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import gevent.socket

from sk_loadagent.engine import allow_listed, loopback_address

_ALLOWED = [h for h in os.environ.get("SK_LOADAGENT_ALLOW_HOSTS", "").split(",") if h]
_resolve = socket.getaddrinfo


def _guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
    infos = _resolve(host, *args, **kwargs)
    name = host.decode() if isinstance(host, bytes) else str(host or "")
    if allow_listed(name, _ALLOWED):
        return infos
    for info in infos:
        if not loopback_address(str(info[4][0])):
            raise socket.gaierror(
                socket.EAI_FAIL,
                f"sk-loadagent refused {name}: not a loopback host (allow it with allowHosts / --allow-host)",
            )
    return infos


socket.getaddrinfo = _guarded
gevent.socket.getaddrinfo = _guarded
