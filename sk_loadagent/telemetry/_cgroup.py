"""The CPU limit a process runs under: its cgroup's CPU quota, else the machine's cores."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_PROC = Path("/proc")
_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def cpu_quota_cores(pid: int | None = None) -> float:
    """Cores the process may use: its cgroup quota (v1 or v2) capped at ``os.cpu_count()``, else the count."""
    machine = float(os.cpu_count() or 1)
    quota = cgroup_cpu_quota(os.getpid() if pid is None else pid)
    return machine if quota is None else min(quota, machine)


def cgroup_cpu_quota(pid: int, *, cgroup_root: Path = _CGROUP_ROOT, proc: Path = _PROC) -> float | None:
    """The tightest CPU quota in cores along the process's cgroup path; None when unlimited or unreadable."""
    try:
        lines = (proc / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[2]:
            continue
        controllers, path = parts[1], parts[2]
        if controllers == "":
            limits += _walk(cgroup_root, path, _v2_limit)
        elif "cpu" in controllers.split(","):
            for mount in _V1_CPU_MOUNTS:
                if (cgroup_root / mount).is_dir():
                    limits += _walk(cgroup_root / mount, path, _v1_limit)
                    break
    return min(limits) if limits else None


def _walk(mount: Path, path: str, read: Callable[[Path], float | None]) -> list[float]:
    """The limits set on the cgroup and each of its ancestors up to the mount point.

    Inside a container the path recorded in /proc may be the host's, which is not mounted here; then the
    mount point itself is the container's cgroup.
    """
    directory = mount / path.lstrip("/")
    if not directory.is_dir():
        directory = mount
    limits = []
    while True:
        limit = read(directory)
        if limit is not None:
            limits.append(limit)
        if directory == mount or mount not in directory.parents:
            return limits
        directory = directory.parent


def _v2_limit(directory: Path) -> float | None:
    """``cpu.max`` holds ``"<quota> <period>"`` or ``"max <period>"``."""
    try:
        quota, period = (directory / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else _ratio(quota, period)


def _v1_limit(directory: Path) -> float | None:
    """``cpu.cfs_quota_us`` is -1 when unlimited."""
    try:
        quota = (directory / "cpu.cfs_quota_us").read_text().strip()
        period = (directory / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None
