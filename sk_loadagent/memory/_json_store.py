"""The JSON file store (spec cycle 17's perf-metrics.memory.json): ``{"schemaVersion": N, "runs": [...]}``.

Writers take an exclusive ``flock`` on a sibling ``.lock`` file, read the document, change it, and replace
it with ``sk_loadagent.atomic.write_atomic`` (temp file beside it, fsync, ``os.replace``, fsync of the
directory). Readers take no lock and see the previous document or the next one, never half of one. A writer
killed mid-write leaves only a temp file, which the next writer removes. Every write rewrites the whole
file (one run per line), so this store suits hundreds of runs; SQLite suits many thousands.

Opening a document of an older schema migrates it in place, keeping the original as ``<name>.v<N>.bak``.
A spec perf-baseline.memory.json (one entry or a list) opens read-only: its entries become records.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from sk_loadagent.atomic import TEMP_SUFFIX, temp_prefix, write_atomic
from sk_loadagent.errors import InputError, MemoryStoreError
from sk_loadagent.memory._schema import SCHEMA_VERSION, check_version, upgrade_run
from sk_loadagent.memory._spec_import import is_baseline_document, records_from_baselines
from sk_loadagent.memory.base import (
    StoreBase,
    check_limit,
    duplicate_run,
    newest,
    stamped,
    store_error,
    unknown_run,
)
from sk_loadagent.memory.history import HistoryRow
from sk_loadagent.memory.record import RunRecord, SeriesKey
from sk_loadagent.models.loading import problems_from

if sys.platform != "win32":
    import fcntl

T = TypeVar("T")

LOCK_TIMEOUT_S = 60.0
_Stamp = tuple[int, int, int, int]


@dataclass(frozen=True)
class _Document:
    version: int | None  # None: no file yet (or an empty one), or a read-only perf-baseline document
    records: tuple[RunRecord, ...]
    imported: bool = False


# A change to the list of runs: the new list (None when nothing changes) and the caller's result.
_Change = Callable[[list[RunRecord]], tuple[list[RunRecord] | None, T]]


class JsonStore(StoreBase):
    """Runs in one JSON document; see the module docstring for the write protocol."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()
        self.url = f"json://{self.path}"
        self._source = str(self.path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._cached: tuple[_Stamp, _Document] | None = None
        if self.path.is_dir():
            raise store_error(self._source, "<file>", "a JSON file", "a directory")
        document = self._load()
        if document.version is not None and document.version < SCHEMA_VERSION:
            self._change(lambda records: (records, None))

    # -- queries ---------------------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord | None:
        self._check_open()
        return next((r for r in self._load().records if r.run_id == run_id), None)

    def series(self, key: SeriesKey, *, limit: int | None = None) -> list[RunRecord]:
        self._check_open()
        return newest([r for r in self._load().records if r.key == key], check_limit(limit))

    def rows(self, key: SeriesKey, *, limit: int | None = None) -> list[HistoryRow]:
        return [HistoryRow.of(record) for record in self.series(key, limit=limit)]

    def find(
        self,
        *,
        module_id: str | None = None,
        edition_id: str | None = None,
        test_type: str | None = None,
        endpoint: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        self._check_open()
        wanted = {
            "module_id": module_id,
            "edition_id": edition_id,
            "test_type": test_type,
            "endpoint": endpoint,
        }
        filters = {name: value for name, value in wanted.items() if value is not None}
        matches = [r for r in self._load().records if all(getattr(r, n) == v for n, v in filters.items())]
        return newest(matches, check_limit(limit))

    def keys(self) -> list[SeriesKey]:
        self._check_open()
        return sorted({r.key for r in self._load().records}, key=SeriesKey.sort_key)

    def baseline(self, key: SeriesKey) -> RunRecord | None:
        self._check_open()
        return _current_baseline(self._load().records, key)

    def last_validated_pass(self, key: SeriesKey) -> RunRecord | None:
        self._check_open()
        passes = [r for r in self._load().records if r.key == key and r.validated and r.status == "pass"]
        return passes[-1] if passes else None

    # -- changes ---------------------------------------------------------------------------------------

    def push(self, record: RunRecord) -> RunRecord:
        self._check_open()
        stored = stamped(record)

        def append(records: list[RunRecord]) -> tuple[list[RunRecord], RunRecord]:
            if any(r.run_id == stored.run_id for r in records):
                raise duplicate_run(self._source, str(stored.run_id))
            if stored.is_baseline:
                records = [_unflagged(r) if r.key == stored.key else r for r in records]
            return [*records, stored], stored

        return self._change(append)

    def set_baseline(self, key: SeriesKey, run_id: str) -> None:
        self._check_open()

        def move(records: list[RunRecord]) -> tuple[list[RunRecord], None]:
            target = next((r for r in records if r.run_id == run_id), None)
            if target is None or target.key != key:
                raise unknown_run(self._source, key, run_id, None if target is None else target.key)
            return [_flag_moved(r, run_id) if r.key == key else r for r in records], None

        self._change(move)

    def mark_obsolete(self, key: SeriesKey) -> None:
        self._check_open()

        def obsolete(records: list[RunRecord]) -> tuple[list[RunRecord] | None, None]:
            current = _current_baseline(records, key)
            if current is None:
                return None, None
            flagged = current.model_copy(update={"baseline_obsolete": True})
            return [flagged if r is current else r for r in records], None

        self._change(obsolete)

    # -- file protocol ---------------------------------------------------------------------------------

    def _load(self, *, fresh: bool = False) -> _Document:
        """The current document; parsed again only when the file was replaced since the last read.

        Writers ask for a ``fresh`` parse so that what they write comes from the file, never from objects
        this process has handed out."""
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 (closed below; fstat needs the open file)
        except FileNotFoundError:
            return _Document(None, ())
        except OSError as exc:
            raise store_error(
                self._source, "<file>", "a readable JSON file", exc.strerror or str(exc)
            ) from None
        with handle:
            info = os.fstat(handle.fileno())
            stamp = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)
            if not fresh and self._cached is not None and self._cached[0] == stamp:
                return self._cached[1]
            try:
                raw = handle.read()
            except OSError as exc:
                raise store_error(self._source, "<file>", "a readable JSON file", exc.strerror) from None
        document = _parse(raw, self._source, datetime.fromtimestamp(info.st_mtime, UTC))
        self._cached = (stamp, document)
        return document

    def _change(self, change: _Change[T]) -> T:
        if self._load().imported:  # checked before locking: a read-only file gets no lock file beside it
            raise self._read_only()
        with self._exclusive_lock():
            _remove_stale_temps(self.path)
            document = self._load(fresh=True)
            if document.imported:
                raise self._read_only()
            records, result = change(list(document.records))
            if records is None:
                return result
            try:
                if document.version is not None and document.version < SCHEMA_VERSION:
                    self._keep_backup(document.version)
                write_atomic(self.path, _render(records))
            except OSError as exc:
                raise store_error(self._source, "<file>", "a writable location", str(exc)) from None
            return result

    def check_writable(self) -> None:
        """Raise what a push would: a spec perf-baseline.memory.json opens read only."""
        if self._load().imported:
            raise self._read_only()

    def _read_only(self) -> MemoryStoreError:
        return store_error(
            self._source,
            "<file>",
            "a memory store to write to (this perf-baseline.memory.json is read only; "
            "push to a new .json or SQLite store instead)",
            "a perf-baseline document",
        )

    @contextlib.contextmanager
    def _exclusive_lock(self) -> Iterator[None]:
        if sys.platform == "win32":  # pragma: no cover - fcntl is POSIX only
            raise MemoryStoreError(
                f"{self._source}: the JSON store needs POSIX file locks; use a SQLite store"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise store_error(str(self._lock_path), "<file>", "a lock file we can create", str(exc)) from None
        try:
            _acquire(fd, self._lock_path)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _keep_backup(self, version: int) -> None:
        original = self.path.read_bytes()
        backup = self.path.with_name(f"{self.path.name}.v{version}.bak")
        if backup.exists():
            if backup.read_bytes() == original:
                return
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            backup = self.path.with_name(f"{self.path.name}.v{version}.{stamp}.bak")
        write_atomic(backup, original)


def _current_baseline(records: tuple[RunRecord, ...] | list[RunRecord], key: SeriesKey) -> RunRecord | None:
    flagged = [r for r in records if r.key == key and r.is_baseline and not r.baseline_obsolete]
    return flagged[-1] if flagged else None


def _unflagged(record: RunRecord) -> RunRecord:
    return record.model_copy(update={"is_baseline": False}) if record.is_baseline else record


def _flag_moved(record: RunRecord, run_id: str) -> RunRecord:
    if record.run_id == run_id:
        return record.model_copy(update={"is_baseline": True, "baseline_obsolete": False})
    return _unflagged(record)


def _acquire(fd: int, lock_path: Path) -> None:
    """Take the exclusive lock, polling so that a stuck writer turns into an error instead of a hang."""
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    pause = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise MemoryStoreError(
                    f"{lock_path}: another writer has held this lock for over {LOCK_TIMEOUT_S:g} s"
                ) from None
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 0.05)


def _shape(data: object) -> str:
    if isinstance(data, dict):
        return (
            "a mapping with fields " + ", ".join(sorted(map(str, data))[:6]) if data else "an empty mapping"
        )
    if isinstance(data, list):
        return "a list of other things" if data else "an empty list"
    return "text" if isinstance(data, str) else json.dumps(data)


def _parse(raw: bytes, source: str, modified: datetime) -> _Document:
    if not raw.strip():
        return _Document(None, ())
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise store_error(source, "<file>", "a JSON memory store (UTF-8 text)", "binary data") from None
    except json.JSONDecodeError as exc:
        raise store_error(
            source, f"line {exc.lineno} column {exc.colno}", "valid JSON", f"a syntax error ({exc.msg})"
        ) from None
    if isinstance(data, dict) and ("runs" in data or "schemaVersion" in data):
        return _parse_store(data, source)
    if is_baseline_document(data):
        return _Document(None, tuple(records_from_baselines(data, source, modified)), imported=True)
    raise store_error(
        source,
        "<document>",
        'a memory store {"schemaVersion": N, "runs": [...]} or perf-baseline.memory.json entries',
        _shape(data),
    )


def _parse_store(data: dict[str, Any], source: str) -> _Document:
    version = check_version(data.get("schemaVersion"), source)
    unknown = sorted(set(data) - {"schemaVersion", "runs"})
    if unknown:
        raise store_error(source, unknown[0], "a known field name (schemaVersion or runs)")
    runs = data.get("runs")
    if not isinstance(runs, list):
        raise store_error(source, "runs", "a list of runs", _shape(runs) if runs is not None else "nothing")
    records: list[RunRecord] = []
    seen: set[str] = set()
    for index, run in enumerate(runs):
        field = f"runs[{index}]"
        if not isinstance(run, dict):
            raise store_error(source, field, "a mapping of fields (a run)", _shape(run))
        upgraded = upgrade_run(run, version)
        try:
            record = RunRecord.model_validate(upgraded)
        except ValidationError as exc:
            problems = problems_from(exc, field, data=upgraded, model=RunRecord)
            raise MemoryStoreError(str(InputError(source, problems))) from None
        if record.run_id is None or record.created_at is None:
            missing = "runId" if record.run_id is None else "createdAt"
            raise store_error(source, f"{field}.{missing}", "this field on every stored run", "nothing")
        if record.run_id in seen:
            raise store_error(source, f"{field}.runId", "a run id used once", record.run_id)
        seen.add(record.run_id)
        records.append(record)
    records.sort(
        key=lambda r: r.created_at or datetime.min.replace(tzinfo=UTC)
    )  # stable: file order breaks ties
    return _Document(version, tuple(records))


def _render(records: list[RunRecord]) -> bytes:
    """The document with one run per line: still one JSON value, but diffs and tails stay readable."""
    lines = [
        json.dumps(r.to_wire(exclude_none=False), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        for r in records
    ]
    return (f'{{"schemaVersion":{SCHEMA_VERSION},"runs":[\n' + ",\n".join(lines) + "\n]}\n").encode("utf-8")


def _remove_stale_temps(path: Path) -> None:
    """Temp files left by writers that died mid-write; only the lock holder writes temps, so all are stale.

    The pattern is exact so that the temps of another store in the same directory are left alone."""
    backup = r"(?:v\d+(?:\.\d+T\d+Z)?\.bak\.)?"
    pattern = re.compile(re.escape(temp_prefix(path)) + backup + r"[0-9a-f]{32}" + re.escape(TEMP_SUFFIX))
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            with contextlib.suppress(OSError):
                os.unlink(path.parent / name)
