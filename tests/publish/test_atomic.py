"""The one atomic writer (sk_loadagent.atomic), used for every artifact and for the JSON memory store: a
failure mid-write leaves the previous file and no temp file, and both get the same file mode."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from sk_loadagent.atomic import write_atomic
from sk_loadagent.memory import RunRecord, open_store
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish import write_artifacts


def suite_of(trace_id: str) -> PerfMetrics:
    return PerfMetrics.model_validate(
        {
            "traceId": trace_id,
            "moduleId": "CheckoutService",
            "editionId": "vetclinic",
            "testType": "load",
            "endpoint": "/checkout/submit",
            "performanceScore": 1.0,
            "status": "pass",
            "latency": {"p95": 30.0},
            "rps": 100.0,
            "errorRate": 0.0,
        }
    )


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*.tmp"))


class _FullDisk:
    """A file object that takes half the payload, then fails as a full disk does."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        self._handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def test_a_write_replaces_the_content(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "perf-metrics.json"

    write_atomic(target, "old\n")
    write_atomic(target, b"new\n")

    assert target.read_text() == "new\n"
    assert leftovers(tmp_path) == []


def test_a_full_disk_mid_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "perf-metrics.json"
    target.write_text('{"run": 1}\n')
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _FullDisk(real_fdopen(fd, mode)))

    with pytest.raises(OSError, match="No space left on device"):
        write_atomic(target, '{"run": 2, "padding": "' + "x" * 4096 + '"}\n')

    assert target.read_text() == '{"run": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["perf-metrics.json"]


def test_a_failed_rename_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "load-trace-map.yaml"
    target.write_text("traceId: run-1\n")

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_atomic(target, "traceId: run-2\n")

    assert target.read_text() == "traceId: run-1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["load-trace-map.yaml"]


def test_an_interrupt_mid_write_cleans_up_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "studio.performance.preview.json"
    target.write_text("{}\n")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, '{"status": "pass"}\n')

    assert target.read_text() == "{}\n"
    assert leftovers(tmp_path) == []


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "regression-alert.yaml"
    target.write_text("old\n")
    target.chmod(0o640)

    write_atomic(target, "new\n")

    assert target.stat().st_mode & 0o777 == 0o640


def test_a_new_file_gets_the_umask_mode_and_is_synced_with_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "perf-metrics.json"
    synced: list[str] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    previous = os.umask(0o027)
    try:
        write_atomic(target, "{}\n")
    finally:
        os.umask(previous)

    assert target.stat().st_mode & 0o777 == 0o640
    # The temp file's data first, then the directory that holds the rename.
    assert [Path(p).parent for p in synced] == [tmp_path, tmp_path.parent]
    assert Path(synced[0]).name.startswith(".perf-metrics.json.")
    assert synced[1] == str(tmp_path)


def test_the_memory_store_and_the_artifacts_get_the_same_mode(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        with open_store(tmp_path / "perf-metrics.memory.json") as store:
            store.push(RunRecord(edition_id="e", module_id="M", test_type="load", endpoint="/"))
        write_artifacts(suite_of("run-1"), tmp_path / "perf", steps=[], attempts=[])
    finally:
        os.umask(previous)

    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o640}, modes


def test_a_failure_while_publishing_keeps_that_artifact_from_the_previous_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_artifacts(suite_of("run-1"), tmp_path, steps=[], attempts=[])
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    real_replace = os.replace

    def fail_on_preview(src: str, dst: str) -> None:
        if Path(dst).name == "studio.performance.preview.json":
            raise OSError(errno.EIO, "Input/output error", dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_preview)
    with pytest.raises(OSError, match="Input/output error"):
        write_artifacts(suite_of("run-2"), tmp_path, steps=[], attempts=[])

    preview = tmp_path / "studio.performance.preview.json"
    assert preview.read_bytes() == before[preview]
    assert json.loads(preview.read_text())["traceId"] == "run-1"
    # Files written before the failure hold run 2 in full; none is half of either run.
    assert json.loads((tmp_path / "perf-metrics.json").read_text())["traceId"] == "run-2"
    assert leftovers(tmp_path) == []
    assert {p for p in tmp_path.rglob("*") if p.is_file()} == set(before)
