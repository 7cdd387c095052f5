"""The PostgreSQL store (optional extra ``postgres``: psycopg 3).

Tables ``sk_loadagent_runs`` and ``sk_loadagent_meta`` (holding ``schemaVersion``) live in the connection's
current schema, or in the schema named by the URL's ``schema`` query parameter (created when missing).
Every change is one transaction; changes to a key's baseline flag take a transaction-scoped advisory lock
on that key, and a partial unique index keeps at most one live baseline per key. Setup and migration run
under an advisory lock too, so parallel CI jobs opening a new database take turns.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from sk_loadagent.errors import MemoryStoreError, StoreUnavailableError
from sk_loadagent.memory._rows import (
    COLUMNS,
    JSON_COLUMNS,
    record_values,
    row_record,
    series_key_text,
    to_json_text,
)
from sk_loadagent.memory._schema import (
    SCHEMA_VERSION,
    check_version,
    p99_from_metrics,
    v3_fields,
    v4_span_profile,
)
from sk_loadagent.memory._urls import redact, split_schema
from sk_loadagent.memory.base import StoreBase, check_limit, duplicate_run, stamped, store_error, unknown_run
from sk_loadagent.memory.history import HistoryRow
from sk_loadagent.memory.record import RunRecord, SeriesKey

CONNECT_TIMEOUT_S = 10
RUNS_TABLE = "sk_loadagent_runs"
META_TABLE = "sk_loadagent_meta"


def _lock_id(text: str) -> int:
    """A signed 64-bit advisory lock id for ``text``."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


class PostgresStore(StoreBase):
    """Runs in PostgreSQL tables; one connection, serialised across threads by a lock."""

    def __init__(self, url: str) -> None:
        self.url = redact(url)
        conninfo, self._schema = split_schema(url)
        self._runs = self._table(RUNS_TABLE)
        self._lock_scope = f"{self._schema or ''}.{RUNS_TABLE}"
        self._meta = self._table(META_TABLE)
        self._lock = threading.RLock()
        options: dict[str, Any] = {"application_name": "sk-loadagent"}
        try:
            if "connect_timeout" not in conninfo_to_dict(conninfo):
                options["connect_timeout"] = CONNECT_TIMEOUT_S
            self._conn = psycopg.connect(conninfo, autocommit=True, row_factory=dict_row, **options)
        except psycopg.Error as exc:
            # The URL is fine as far as we can tell: the server is down or refuses us (exit 4, not 2).
            problem = _first_line(exc)
            raise StoreUnavailableError(
                str(store_error(self.url, "<connection>", "a PostgreSQL server we can connect to", problem))
            ) from None
        try:
            with self._errors():
                self._prepare()
        except BaseException:
            self._conn.close()
            raise

    def _table(self, name: str) -> sql.Composable:
        return sql.Identifier(self._schema, name) if self._schema else sql.Identifier(name)

    # -- setup -----------------------------------------------------------------------------------------

    def _prepare(self) -> None:
        with self._conn.transaction():
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(%s)", (_lock_id(f"sk-loadagent setup {self._schema}"),)
            )
            if self._schema:
                self._conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema))
                )
            version = self._stored_version()
            if version < SCHEMA_VERSION:
                self._migrate(version)

    def _stored_version(self) -> int:
        found = self._conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = coalesce(%s, current_schema()) AND table_name IN (%s, %s)",
            (self._schema, RUNS_TABLE, META_TABLE),
        ).fetchall()
        tables = {row["table_name"] for row in found}
        if not tables:
            return 0
        if tables != {RUNS_TABLE, META_TABLE}:
            raise store_error(
                self.url,
                "<schema>",
                f"both {RUNS_TABLE} and {META_TABLE} (an sk-loadagent store)",
                ", ".join(tables),
            )
        row = self._conn.execute(
            sql.SQL("SELECT value FROM {} WHERE key = 'schemaVersion'").format(self._meta)
        ).fetchone()
        return check_version(None if row is None else row["value"], self.url)

    def _migrate(self, version: int) -> None:
        if version == 0:
            self._create_v1()
            version = 1
        for step in range(version, SCHEMA_VERSION):
            _STEPS[step](self)
        self._conn.execute(
            sql.SQL("UPDATE {} SET value = %s WHERE key = 'schemaVersion'").format(self._meta),
            (str(SCHEMA_VERSION),),
        )

    def _create_v1(self) -> None:
        runs = self._runs
        statements = [
            sql.SQL("CREATE TABLE {} (key text PRIMARY KEY, value text NOT NULL)").format(self._meta),
            sql.SQL(
                """CREATE TABLE {} (
                seq bigserial PRIMARY KEY,
                run_id text NOT NULL UNIQUE,
                created_at timestamptz NOT NULL,
                series_key text NOT NULL,
                edition_id text, module_id text, test_type text, endpoint text,
                trace_id text, status text,
                performance_score double precision, p95_latency_ms double precision,
                rps double precision, error_rate double precision,
                regressed boolean NOT NULL, is_baseline boolean NOT NULL, baseline_obsolete boolean NOT NULL,
                validated boolean NOT NULL, retry_attempt integer NOT NULL,
                metrics jsonb NOT NULL, latency_histogram jsonb
            )"""
            ).format(runs),
            sql.SQL("CREATE INDEX {} ON {} (series_key, created_at, seq)").format(
                sql.Identifier(f"{RUNS_TABLE}_by_series"), runs
            ),
            sql.SQL("CREATE INDEX {} ON {} (module_id, edition_id, test_type)").format(
                sql.Identifier(f"{RUNS_TABLE}_by_scope"), runs
            ),
            # At most one live baseline per key, whatever a caller does.
            sql.SQL(
                "CREATE UNIQUE INDEX {} ON {} (series_key) WHERE is_baseline AND NOT baseline_obsolete"
            ).format(sql.Identifier(f"{RUNS_TABLE}_one_baseline"), runs),
            sql.SQL("INSERT INTO {} (key, value) VALUES ('schemaVersion', '1')").format(self._meta),
        ]
        for statement in statements:
            self._conn.execute(statement)

    def _v1_to_v2(self) -> None:
        runs = self._runs
        self._conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN p99_latency_ms double precision").format(runs))
        self._conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN score_log jsonb NOT NULL DEFAULT '[]'").format(runs)
        )
        rows = self._conn.execute(sql.SQL("SELECT seq, metrics FROM {}").format(runs)).fetchall()
        for row in rows:
            p99 = p99_from_metrics(row["metrics"])
            if p99 is not None:
                self._conn.execute(
                    sql.SQL("UPDATE {} SET p99_latency_ms = %s WHERE seq = %s").format(runs),
                    (p99, row["seq"]),
                )

    def _v2_to_v3(self) -> None:
        runs = self._runs
        self._conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN load_profile text").format(runs))
        flag = "ALTER TABLE {} ADD COLUMN infrastructure_failure boolean NOT NULL DEFAULT false"
        self._conn.execute(sql.SQL(flag).format(runs))
        query = sql.SQL("SELECT seq, edition_id, module_id, test_type, endpoint, metrics FROM {}").format(
            runs
        )
        update = sql.SQL(
            "UPDATE {} SET load_profile = %s, infrastructure_failure = %s, series_key = %s WHERE seq = %s"
        ).format(runs)
        for row in self._conn.execute(query).fetchall():
            profile, failed = v3_fields(row["metrics"])
            key = SeriesKey(row["edition_id"], row["module_id"], row["test_type"], row["endpoint"], profile)
            self._conn.execute(update, (profile, failed, series_key_text(key), row["seq"]))

    def _v3_to_v4(self) -> None:
        runs = self._runs
        self._conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN span_profile jsonb").format(runs))
        update = sql.SQL("UPDATE {} SET span_profile = %s::jsonb WHERE seq = %s").format(runs)
        for row in self._conn.execute(sql.SQL("SELECT seq, metrics FROM {}").format(runs)).fetchall():
            profile = v4_span_profile(row["metrics"])
            if profile is not None:
                self._conn.execute(update, (to_json_text(profile), row["seq"]))

    # -- plumbing --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        self._check_open()
        try:
            yield
        except psycopg.Error as exc:
            raise MemoryStoreError(f"{self.url}: {_first_line(exc)}") from None

    @contextlib.contextmanager
    def _transaction(self, key: SeriesKey | None = None) -> Iterator[psycopg.Connection[Any]]:
        with self._errors(), self._lock, self._conn.transaction():
            if key is not None:
                lock = _lock_id(f"{self._lock_scope} {series_key_text(key)}")
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            yield self._conn

    def _records(
        self, where: sql.Composable, params: Sequence[Any], limit: int | None = None
    ) -> list[RunRecord]:
        """Matching runs oldest to newest; with a limit, the newest ``limit`` of them."""
        columns = sql.SQL(", ").join(sql.Identifier(name) for name in COLUMNS)
        query = sql.SQL(
            "SELECT {columns} FROM (SELECT seq, {columns} FROM {runs} WHERE {where} "
            "ORDER BY created_at DESC, seq DESC LIMIT %s) AS picked ORDER BY created_at, seq"
        ).format(columns=columns, runs=self._runs, where=where)
        with self._errors(), self._lock:
            rows = self._conn.execute(query, [*params, limit]).fetchall()
        return [row_record(row, self.url) for row in rows]

    # -- queries ---------------------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord | None:
        found = self._records(sql.SQL("run_id = %s"), [run_id], 1)
        return found[0] if found else None

    def series(self, key: SeriesKey, *, limit: int | None = None) -> list[RunRecord]:
        return self._records(sql.SQL("series_key = %s"), [series_key_text(key)], check_limit(limit))

    def rows(self, key: SeriesKey, *, limit: int | None = None) -> list[HistoryRow]:
        query = sql.SQL(
            "SELECT * FROM (SELECT seq, edition_id, module_id, test_type, endpoint, load_profile, run_id, "
            "created_at, trace_id, status, performance_score, p95_latency_ms, rps, error_rate, regressed, "
            "is_baseline, baseline_obsolete, validated, infrastructure_failure, retry_attempt, "
            "metrics -> 'retry' ->> 'outcome' AS retry_outcome FROM {runs} WHERE series_key = %s "
            "ORDER BY created_at DESC, seq DESC LIMIT %s) AS picked ORDER BY created_at, seq"
        ).format(runs=self._runs)
        with self._errors(), self._lock:
            found = self._conn.execute(query, [series_key_text(key), check_limit(limit)]).fetchall()
        return [_history_row(row) for row in found]

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
        where = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in filters)
        return self._records(
            where if filters else sql.SQL("true"), list(filters.values()), check_limit(limit)
        )

    def keys(self) -> list[SeriesKey]:
        query = sql.SQL(
            "SELECT DISTINCT edition_id, module_id, test_type, endpoint, load_profile FROM {}"
        ).format(self._runs)
        with self._errors(), self._lock:
            rows = self._conn.execute(query).fetchall()
        return sorted(
            (_row_key(r) for r in rows),
            key=SeriesKey.sort_key,
        )

    def baseline(self, key: SeriesKey) -> RunRecord | None:
        where = sql.SQL("series_key = %s AND is_baseline AND NOT baseline_obsolete")
        found = self._records(where, [series_key_text(key)], 1)
        return found[0] if found else None

    def last_validated_pass(self, key: SeriesKey) -> RunRecord | None:
        where = sql.SQL("series_key = %s AND validated AND status = 'pass'")
        found = self._records(where, [series_key_text(key)], 1)
        return found[0] if found else None

    # -- changes ---------------------------------------------------------------------------------------

    def push(self, record: RunRecord) -> RunRecord:
        stored = stamped(record)
        values = record_values(stored)
        with self._transaction(stored.key if stored.is_baseline else None) as conn:
            exists = conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE run_id = %s").format(self._runs), (stored.run_id,)
            ).fetchone()
            if exists:
                raise duplicate_run(self.url, str(stored.run_id))
            if stored.is_baseline:
                conn.execute(
                    sql.SQL("UPDATE {} SET is_baseline = false WHERE series_key = %s AND is_baseline").format(
                        self._runs
                    ),
                    (values["series_key"],),
                )
            try:
                _insert(conn, self._runs, values)
            except psycopg.errors.UniqueViolation:
                # Another process stored the same runId between our check and our insert.
                raise duplicate_run(self.url, str(stored.run_id)) from None
        return stored

    def set_baseline(self, key: SeriesKey, run_id: str) -> None:
        runs = self._runs
        with self._transaction(key) as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT edition_id, module_id, test_type, endpoint, load_profile FROM {} "
                    "WHERE run_id = %s"
                ).format(runs),
                (run_id,),
            ).fetchone()
            found = None if row is None else _row_key(row)
            if found != key:
                raise unknown_run(self.url, key, run_id, found)
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET is_baseline = false WHERE series_key = %s AND is_baseline AND run_id <> %s"
                ).format(runs),
                (series_key_text(key), run_id),
            )
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET is_baseline = true, baseline_obsolete = false WHERE run_id = %s"
                ).format(runs),
                (run_id,),
            )

    def mark_obsolete(self, key: SeriesKey) -> None:
        with self._transaction(key) as conn:
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET baseline_obsolete = true "
                    "WHERE series_key = %s AND is_baseline AND NOT baseline_obsolete"
                ).format(self._runs),
                (series_key_text(key),),
            )

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._conn.close()
            super().close()


_STEPS = {1: PostgresStore._v1_to_v2, 2: PostgresStore._v2_to_v3, 3: PostgresStore._v3_to_v4}


def _history_row(row: dict[str, Any]) -> HistoryRow:
    return HistoryRow(
        key=_row_key(row),
        run_id=row["run_id"],
        created_at=row["created_at"],
        trace_id=row["trace_id"],
        status=row["status"],
        performance_score=row["performance_score"],
        p95_latency_ms=row["p95_latency_ms"],
        rps=row["rps"],
        error_rate=row["error_rate"],
        regressed=row["regressed"],
        is_baseline=row["is_baseline"],
        baseline_obsolete=row["baseline_obsolete"],
        validated=row["validated"],
        infrastructure_failure=row["infrastructure_failure"],
        retry_attempt=row["retry_attempt"],
        retry_outcome=row["retry_outcome"],
    )


def _row_key(row: dict[str, Any]) -> SeriesKey:
    parts = ("edition_id", "module_id", "test_type", "endpoint", "load_profile")
    return SeriesKey(*(row[name] for name in parts))


def _insert(conn: psycopg.Connection[Any], runs: sql.Composable, values: dict[str, Any]) -> None:
    names = [*COLUMNS, "series_key"]
    placeholders = [sql.SQL("%s::jsonb" if name in JSON_COLUMNS else "%s") for name in names]
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            runs, sql.SQL(", ").join(sql.Identifier(n) for n in names), sql.SQL(", ").join(placeholders)
        ),
        [values[name] for name in names],
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
