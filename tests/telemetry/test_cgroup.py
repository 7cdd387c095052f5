"""The CPU quota of a process's cgroup, read from fake /proc and /sys/fs/cgroup trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sk_loadagent.telemetry import cpu_quota_cores
from sk_loadagent.telemetry._cgroup import cgroup_cpu_quota

PID = 4242


def fake_proc(tmp_path: Path, cgroup_lines: str) -> Path:
    proc = tmp_path / "proc"
    (proc / str(PID)).mkdir(parents=True)
    (proc / str(PID) / "cgroup").write_text(cgroup_lines)
    return proc


def write(path: Path, text: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for line in text.split(";"):
        name, value = line.split("=")
        (path / name).write_text(value + "\n")


def test_v2_quota_is_quota_over_period(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    write(root / "system.slice" / "svc.service", "cpu.max=150000 100000")
    proc = fake_proc(tmp_path, "0::/system.slice/svc.service\n")
    assert cgroup_cpu_quota(PID, cgroup_root=root, proc=proc) == 1.5


def test_v2_the_tightest_ancestor_wins_and_max_is_unlimited(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    write(root / "a", "cpu.max=50000 100000")
    write(root / "a" / "b", "cpu.max=max 100000")
    proc = fake_proc(tmp_path, "0::/a/b\n")
    assert cgroup_cpu_quota(PID, cgroup_root=root, proc=proc) == 0.5
    write(root / "a", "cpu.max=max 100000")
    assert cgroup_cpu_quota(PID, cgroup_root=root, proc=proc) is None


def test_v1_cfs_quota(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    write(root / "cpu,cpuacct" / "docker" / "abc", "cpu.cfs_quota_us=200000;cpu.cfs_period_us=100000")
    write(root / "cpu,cpuacct", "cpu.cfs_quota_us=-1;cpu.cfs_period_us=100000")
    proc = fake_proc(tmp_path, "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/\n")
    assert cgroup_cpu_quota(PID, cgroup_root=root, proc=proc) == 2.0


def test_a_host_path_not_mounted_in_the_container_falls_back_to_the_mount(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    write(root, "cpu.max=300000 100000")
    proc = fake_proc(tmp_path, "0::/kubepods/pod1/container2\n")
    assert cgroup_cpu_quota(PID, cgroup_root=root, proc=proc) == 3.0


@pytest.mark.parametrize("content", ["", "garbage\n", "0::/\n"])
def test_nothing_readable_means_no_quota(tmp_path: Path, content: str) -> None:
    proc = fake_proc(tmp_path, content)
    assert cgroup_cpu_quota(PID, cgroup_root=tmp_path / "empty", proc=proc) is None
    assert cgroup_cpu_quota(PID + 1, cgroup_root=tmp_path / "empty", proc=proc) is None  # no such process


def test_cpu_quota_cores_never_exceeds_the_machine() -> None:
    cores = cpu_quota_cores()
    assert 0 < cores <= (os.cpu_count() or 1)
    quota = cgroup_cpu_quota(os.getpid())
    assert cores == (float(os.cpu_count() or 1) if quota is None else min(quota, float(os.cpu_count() or 1)))
