"""The SQLite store, the embedded default: WAL journal, a busy timeout, one ``BEGIN IMMEDIATE``
transaction per change, a ``meta`` table holding ``schemaVersion`` and JSON text columns.

A file is checked before anything is written to it: a file that is not a SQLite database, a database
without our tables, or a store of a newer schema is refused and left byte for byte as it was. New stores
are created at schema 1 and migrated like old ones, so the migration path runs on every new store.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sk_loadagent.errors import MemoryStoreError, StoreUnavailableError
from sk_loadagent.memory._rows import COLUMNS, record_values, row_record, series_key_text, to_json_text
from sk_loadagent.memory._schema import (
    SCHEMA_VERSION,
    check_version,
    p99_from_metrics,
    v3_fields,
    v4_span_profile,
)
from sk_loadagent.memory.base import (
    StoreBase,
    check_limit,
    duplicate_run,
    stamped,
    store_error,
    unknown_run,
)
from sk_loadagent.memory.history import HistoryRow
from sk_loadagent.memory.record import RunRecord, SeriesKey

BUSY_TIMEOUT_S = 30.0

_V1_TABLES = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        series_key TEXT NOT NULL,
        edition_id TEXT, module_id TEXT, test_type TEXT, endpoint TEXT,
        trace_id TEXT, status TEXT,
        performance_score REAL, p95_latency_ms REAL, rps REAL, error_rate REAL,
        regressed INTEGER NOT NULL, is_baseline INTEGER NOT NULL, baseline_obsolete INTEGER NOT NULL,
        validated INTEGER NOT NULL, retry_attempt INTEGER NOT NULL,
        metrics TEXT NOT NULL, latency_histogram TEXT
    )""",
    "CREATE INDEX runs_by_series ON runs (series_key, created_at, seq)",
    "CREATE INDEX runs_by_scope ON runs (module_id, edition_id, test_type)",
    # At most one live baseline per key, whatever a caller does.
    "CREATE UNIQUE INDEX runs_one_baseline ON runs (series_key) "
    "WHERE is_baseline = 1 AND baseline_obsolete = 0",
    "INSERT INTO meta (key, value) VALUES ('schemaVersion', '1')",
)

_ORDER = "ORDER BY created_at, seq"
# A history row's columns: no JSON column is read but the retry's outcome.
_ROW_COLUMNS = (
    "edition_id, module_id, test_type, endpoint, load_profile, run_id, created_at, trace_id, status, "
    "performance_score, p95_latency_ms, rps, error_rate, regressed, is_baseline, baseline_obsolete, "
    "validated, infrastructure_failure, retry_attempt, json_extract(metrics, '$.retry.outcome')"
)
_NEWEST_FIRST = "ORDER BY created_at DESC, seq DESC"


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE runs ADD COLUMN p99_latency_ms REAL")
    conn.execute("ALTER TABLE runs ADD COLUMN score_log TEXT NOT NULL DEFAULT '[]'")
    rows = conn.execute("SELECT seq, metrics FROM runs").fetchall()
    for seq, metrics in rows:
        p99 = p99_from_metrics(json.loads(metrics))
        if p99 is not None:
            conn.execute("UPDATE runs SET p99_latency_ms = ? WHERE seq = ?", (p99, seq))


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE runs ADD COLUMN load_profile TEXT")
    conn.execute("ALTER TABLE runs ADD COLUMN infrastructure_failure INTEGER NOT NULL DEFAULT 0")
    query = "SELECT seq, edition_id, module_id, test_type, endpoint, metrics FROM runs"
    rows = conn.execute(query).fetchall()
    for seq, edition, module, test_type, endpoint, metrics in rows:
        profile, failed = v3_fields(json.loads(metrics))
        key = series_key_text(SeriesKey(edition, module, test_type, endpoint, profile))
        conn.execute(
            "UPDATE runs SET load_profile = ?, infrastructure_failure = ?, series_key = ? WHERE seq = ?",
            (profile, int(failed), key, seq),
        )


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE runs ADD COLUMN span_profile TEXT")
    for seq, metrics in conn.execute("SELECT seq, metrics FROM runs").fetchall():
        profile = v4_span_profile(json.loads(metrics))
        if profile is not None:
            conn.execute("UPDATE runs SET span_profile = ? WHERE seq = ?", (to_json_text(profile), seq))


_STEPS = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def _time_text(record: RunRecord) -> str:
    # Fixed width, so text order is time order.
    assert record.created_at is not None
    return record.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _insert(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    names = [*COLUMNS, "series_key"]
    conn.execute(
        f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        [values[name] for name in names],
    )


def _history_row(row: Sequence[Any]) -> HistoryRow:
    outcome = row[19]
    return HistoryRow(
        key=SeriesKey(*row[:5]),
        run_id=row[5],
        created_at=datetime.fromisoformat(row[6]),
        trace_id=row[7],
        status=row[8],
        performance_score=row[9],
        p95_latency_ms=row[10],
        rps=row[11],
        error_rate=row[12],
        regressed=bool(row[13]),
        is_baseline=bool(row[14]),
        baseline_obsolete=bool(row[15]),
        validated=bool(row[16]),
        infrastructure_failure=bool(row[17]),
        retry_attempt=row[18],
        retry_outcome=outcome if isinstance(outcome, str) else None,
    )


class SqliteStore(StoreBase):
    """Runs in a SQLite database file; one connection, serialised across threads by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()
        self.url = f"sqlite://{self.path}"
        self._source = str(self.path)
        self._lock = threading.RLock()
        if self.path.is_dir():
            raise store_error(self._source, "<file>", "a SQLite database file", "a directory")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise store_error(self._source, "<file>", "a SQLite database we can open", str(exc)) from None
        try:
            self._prepare()
        except BaseException:
            self._conn.close()
            raise

    # -- setup -----------------------------------------------------------------------------------------

    def _prepare(self) -> None:
        conn = self._conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            version = self._stored_version()  # reads only: a foreign file is refused untouched
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"))
            conn.execute("PRAGMA synchronous = FULL")
            if version < SCHEMA_VERSION:
                with self._transaction():
                    version = self._stored_version()  # another process may have migrated meanwhile
                    if version < SCHEMA_VERSION:
                        self._migrate(version)
        except sqlite3.OperationalError as exc:
            # Locked past the busy timeout, a disk I/O error, a full disk: a store we cannot use now (exit 4).
            raise StoreUnavailableError(f"{self._source}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise self._not_a_store(exc) from None

    def _stored_version(self) -> int:
        """0 for an empty database; the version our meta table holds; an error for anything else."""
        tables = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables.discard("sqlite_sequence")
        if not tables:
            return 0
        if not {"meta", "runs"} <= tables:
            raise store_error(
                self._source,
                "<file>",
                "an sk-loadagent memory store (tables meta and runs)",
                f"a SQLite database with tables {', '.join(sorted(tables))}",
            )
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schemaVersion'").fetchone()
        return check_version(None if row is None else row[0], self._source)

    def _migrate(self, version: int) -> None:
        if version == 0:
            for statement in _V1_TABLES:
                self._conn.execute(statement)
            version = 1
        for step in range(version, SCHEMA_VERSION):
            _STEPS[step](self._conn)
        self._conn.execute("UPDATE meta SET value = ? WHERE key = 'schemaVersion'", (str(SCHEMA_VERSION),))

    def _retry_busy(self, action: Callable[[], object]) -> None:
        # Switching the journal mode needs the database to itself; concurrent first opens take turns.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                action()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _not_a_store(self, exc: sqlite3.Error) -> MemoryStoreError:
        hint = ""
        with contextlib.suppress(OSError), open(self.path, "rb") as handle:
            if handle.read(64).lstrip()[:1] in (b"{", b"["):
                hint = " (this looks like JSON: open it as json://<path> or give it a .json name)"
        return store_error(self._source, "<file>", "a SQLite memory store" + hint, str(exc))

    # -- plumbing --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        self._check_open()
        try:
            yield
        except sqlite3.Error as exc:
            raise MemoryStoreError(f"{self._source}: {exc}") from None

    def _records(self, where: str, params: Sequence[Any], limit: int | None = None) -> list[RunRecord]:
        """Matching runs oldest to newest; with a limit, the newest ``limit`` of them."""
        columns = ", ".join(COLUMNS)
        if limit is None:
            sql = f"SELECT {columns} FROM runs WHERE {where} {_ORDER}"
            args = list(params)
        else:
            inner = f"SELECT seq, created_at AS t FROM runs WHERE {where} {_NEWEST_FIRST} LIMIT ?"
            sql = f"SELECT {columns} FROM runs JOIN ({inner}) AS picked USING (seq) {_ORDER}"
            args = [*params, limit]
        with self._errors(), self._lock:
            cursor = self._conn.execute(sql, args)
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [row_record(dict(zip(names, row, strict=True)), self._source) for row in rows]

    # -- queries ---------------------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord | None:
        found = self._records("run_id = ?", [run_id])
        return found[0] if found else None

    def series(self, key: SeriesKey, *, limit: int | None = None) -> list[RunRecord]:
        return self._records("series_key = ?", [series_key_text(key)], check_limit(limit))

    def rows(self, key: SeriesKey, *, limit: int | None = None) -> list[HistoryRow]:
        picked = f"SELECT seq FROM runs WHERE series_key = ? {_NEWEST_FIRST} LIMIT ?"
        sql = f"SELECT {_ROW_COLUMNS} FROM runs WHERE seq IN ({picked}) {_ORDER}"
        with self._errors(), self._lock:
            found = self._conn.execute(
                sql, [series_key_text(key), -1 if limit is None else check_limit(limit)]
            )
            return [_history_row(row) for row in found.fetchall()]

    def find(
        self,
        *,
        module_id: str | None = None,
        edition_id: str | None = None,
        test_type: str | None = None,
        endpoint: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        wanted = {
            "module_id": module_id,
            "edition_id": edition_id,
            "test_type": test_type,
            "endpoint": endpoint,
        }
        filters = {name: value for name, value in wanted.items() if value is not None}
        where = " AND ".join(f"{name} = ?" for name in filters) or "1 = 1"
        return self._records(where, list(filters.values()), check_limit(limit))

    def keys(self) -> list[SeriesKey]:
        with self._errors(), self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT edition_id, module_id, test_type, endpoint, load_profile FROM runs"
            ).fetchall()
        return sorted((SeriesKey(*row) for row in rows), key=SeriesKey.sort_key)

    def baseline(self, key: SeriesKey) -> RunRecord | None:
        found = self._records(
            "series_key = ? AND is_baseline = 1 AND baseline_obsolete = 0", [series_key_text(key)], 1
        )
        return found[0] if found else None

    def last_validated_pass(self, key: SeriesKey) -> RunRecord | None:
        found = self._records(
            "series_key = ? AND validated = 1 AND status = 'pass'", [series_key_text(key)], 1
        )
        return found[0] if found else None

    # -- changes ---------------------------------------------------------------------------------------

    def push(self, record: RunRecord) -> RunRecord:
        stored = stamped(record)
        values = record_values(stored)
        values["created_at"] = _time_text(stored)
        with self._errors(), self._transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (stored.run_id,)).fetchone():
                raise duplicate_run(self._source, str(stored.run_id))
            if stored.is_baseline:
                conn.execute(
                    "UPDATE runs SET is_baseline = 0 WHERE series_key = ? AND is_baseline = 1",
                    (values["series_key"],),
                )
            _insert(conn, values)
        return stored

    def set_baseline(self, key: SeriesKey, run_id: str) -> None:
        with self._errors(), self._transaction() as conn:
            row = conn.execute(
                "SELECT edition_id, module_id, test_type, endpoint, load_profile FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
            found = None if row is None else SeriesKey(*row)
            if found != key:
                raise unknown_run(self._source, key, run_id, found)
            conn.execute(
                "UPDATE runs SET is_baseline = 0 WHERE series_key = ? AND is_baseline = 1 AND run_id <> ?",
                (series_key_text(key), run_id),
            )
            conn.execute("UPDATE runs SET is_baseline = 1, baseline_obsolete = 0 WHERE run_id = ?", (run_id,))

    def mark_obsolete(self, key: SeriesKey) -> None:
        with self._errors(), self._transaction() as conn:
            conn.execute(
                "UPDATE runs SET baseline_obsolete = 1 WHERE series_key = ? AND is_baseline = 1 "
                "AND baseline_obsolete = 0",
                (series_key_text(key),),
            )

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._conn.close()
            super().close()
