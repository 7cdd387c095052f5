"""A run's hold on its output folder (``--out``): one run at a time, and its artifacts land as one set.

CI reads ``--out/perf-metrics.json`` and its siblings at fixed paths, and per-edition copies accumulate in
``metrics/<edition>/`` and ``alerts/<edition>/`` across runs of different editions, so the folder itself is
never swapped. Instead:

- ``claim`` runs before any load is sent. It creates the folder, proves it writable by making a staging
  folder inside it (``.sk-loadagent-staging-*``; same filesystem, so a rename moves a file in), and takes
  an exclusive ``flock`` on the folder for the whole run. A second run into the same folder is refused at
  once with a clear message, so two runs never interleave their files, nor their load on one target.
- Every artifact of the run is written into the staging folder.
- ``commit`` moves the staged files into place, each with one atomic rename, ``perf-metrics.json`` last
  (a reader that waits for it finds the rest already in place), and removes the run's own names that this
  run did not write (a stale ``regression-alert.yaml``).
- ``discard`` (a run that ends in an error or is interrupted) drops the staging folder and removes the
  run's own names from the folder, ``perf-metrics.json`` first, so no file of an earlier run can be taken
  for this run's result and no half set is left. A folder this run created is removed again when empty.

Without ``fcntl`` (Windows) the folder is not locked; everything else holds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sk_loadagent.atomic import fsync_directory
from sk_loadagent.errors import InputError
from sk_loadagent.publish import paths

if sys.platform != "win32":
    import fcntl

STAGING_PREFIX = ".sk-loadagent-staging-"


def run_files(edition_id: str | None, module_id: str | None, *, scoped: bool = True) -> list[Path]:
    """The names (relative to the folder) a run owns, ``perf-metrics.json`` first: the top-level artifacts,
    and with ``scoped`` the per-edition copies of its edition and module."""
    names = [Path(name) for name in paths.TOP_LEVEL]
    if scoped:
        names.append(paths.edition_metrics_path(Path(), edition_id, module_id))
        names.append(paths.edition_alert_path(Path(), edition_id, module_id))
        names.append(paths.badge_path(Path(), edition_id, module_id))
    return names


def _refused(folder: Path, got: str) -> InputError:
    return InputError.single("--out", str(folder), "a folder this run can write to", got)


def _missing_ancestors(folder: Path) -> list[Path]:
    """The folder and its parents that do not exist yet, innermost first (what mkdir -p will create)."""
    missing: list[Path] = []
    current = folder.absolute()
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    return missing


class OutputFolder:
    """Claimed with ``OutputFolder.claim(out_dir)``; write into ``staging``, then ``commit`` or ``discard``,
    and always ``release``. As a context manager it releases on exit and abandons the run when an exception
    leaves the block."""

    def __init__(self, folder: Path, staging: Path, lock_fd: int | None, created: list[Path]) -> None:
        self.folder = folder
        self.staging = staging
        self.committed = False
        self._lock_fd = lock_fd
        self._created = created

    @classmethod
    def claim(cls, out_dir: str | Path) -> OutputFolder:
        """Create and lock ``out_dir`` and make its staging folder; InputError (exit 2) names the folder when
        it cannot be written or another run holds it."""
        folder = Path(out_dir)
        if folder.exists() and not folder.is_dir():
            raise _refused(folder, "a file")
        created = _missing_ancestors(folder)
        lock_fd: int | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock_fd = _lock(folder)
            _remove_stale_staging(folder)
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
        except BaseException as exc:
            if lock_fd is not None:
                os.close(lock_fd)
            _remove_empty(created)
            if isinstance(exc, OSError):
                raise _refused(folder, exc.strerror or str(exc)) from None
            raise
        return cls(folder, staging, lock_fd, created)

    def final_path(self, staged: str | Path) -> Path:
        """Where a file written under ``staging`` is once committed."""
        return self.folder / Path(staged).relative_to(self.staging)

    def commit(self, edition_id: str | None, module_id: str | None) -> None:
        """Move the staged set into the folder; the run's names it did not write are removed."""
        owned = run_files(edition_id, module_id)
        staged = {p.relative_to(self.staging) for p in self.staging.rglob("*") if p.is_file()}
        for name in owned:
            if name not in staged:
                _unlink(self.folder / name)
        metrics = Path(paths.PERF_METRICS)
        for name in sorted(staged - {metrics}) + ([metrics] if metrics in staged else []):
            source, target = self.staging / name, self.folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):  # a replaced file keeps its mode, as in write_atomic
                os.chmod(source, target.stat().st_mode & 0o7777)
            os.replace(source, target)
        for directory in {(self.folder / name).parent for name in staged}:
            fsync_directory(directory)
        self.committed = True

    def discard(self, edition_id: str | None, module_id: str | None) -> None:
        """Drop the staged files and every file of the run's names, so nothing is taken for its result.

        Without a module (the plan was never read) only the top-level names are known to be the run's."""
        shutil.rmtree(self.staging, ignore_errors=True)
        for name in run_files(edition_id, module_id, scoped=module_id is not None):
            _unlink(self.folder / name)
            # An edition folder the removal emptied goes too (metrics/<edition>/, then metrics/).
            _remove_empty(self.folder / parent for parent in name.parents if parent != Path())
        fsync_directory(self.folder)
        _remove_empty(self._created)

    def release(self) -> None:
        """Unlock the folder (closing the descriptor releases the flock)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> OutputFolder:
        return self

    def abandon(self) -> None:
        """After a failure outside ``run_suite`` (the store would not open): discard, unless committed.

        Only the top-level names are known then; discarding twice is harmless."""
        if not self.committed:
            self.discard(None, None)

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            if exc_type is not None:
                self.abandon()
        finally:
            self.release()


def _lock(folder: Path) -> int | None:
    if sys.platform == "win32":  # pragma: no cover - fcntl is POSIX only
        return None
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InputError.single(
            "--out",
            str(folder),
            "a folder no other run is writing to",
            "one in use by another sk-loadagent run (wait for it to end, or choose another --out)",
        ) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_stale_staging(folder: Path) -> None:
    """Staging folders of runs that were killed; only the lock holder stages, so every one found is stale."""
    for leftover in folder.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _remove_empty(directories: Iterable[Path]) -> None:
    for directory in directories:  # innermost first
        try:
            directory.rmdir()
        except OSError:
            return
