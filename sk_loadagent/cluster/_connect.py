"""Reaching the cluster: the address checked with one TCP connect before Ray is asked (``ray.init`` can
retry an unreachable address for a minute), then the driver attached."""

from __future__ import annotations

import importlib
import os
import socket
from types import ModuleType

from sk_loadagent.cluster._placement import RayPlacement
from sk_loadagent.errors import AgentFailure, InputError

CONNECT_TIMEOUT_S = 3.0


def _host_port(address: str) -> tuple[str, int]:
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise InputError.single(
            "--cluster", "", "a Ray address such as ray://10.0.0.5:10001 or 10.0.0.5:6379", repr(address)
        )
    return host.strip("[]"), int(port)


def _ray() -> ModuleType:
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise InputError.single(
            "--cluster", "ray", "the ray package (pip install 'sk-loadagent[ray]')", "not installed"
        ) from None


def connect(address: str, *, workers: int | None = None, tolerate_node_loss: bool = False) -> RayPlacement:
    """Attach this process to the cluster at ``address`` (AgentFailure, exit 4, naming it when it cannot)."""
    host, port = _host_port(address)
    ray = _ray()
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise AgentFailure(f"Ray cluster {address} is unreachable: {exc.strerror or exc}") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, ignore_reinit_error=True)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ... for a cluster it cannot join
        raise AgentFailure(f"Ray cluster {address} could not be joined: {exc}") from None
    return RayPlacement(address=address, workers=workers, tolerate_loss=tolerate_node_loss)


def disconnect(placement: RayPlacement) -> None:
    """Release the placement groups and detach the driver (the cluster keeps running)."""
    ray = _ray()
    placement.close()
    ray.shutdown()
