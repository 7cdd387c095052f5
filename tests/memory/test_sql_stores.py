"""SQLite and PostgreSQL specifics: refusing foreign files and newer schemas, migrating v1, errors."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from sk_loadagent.errors import MemoryStoreError
from sk_loadagent.memory import SCHEMA_VERSION, RunRecord, SeriesKey, open_store

FIXTURES = Path(__file__).parent / "fixtures"
CHECKOUT = SeriesKey("vetclinic", "CheckoutService", "load", "/checkout/submit")


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


def check_migrated(url: str) -> None:
    with open_store(url) as store:
        first, second = store.series(CHECKOUT)
        assert (first.trace_id, first.p99_latency_ms, first.score_log, first.is_baseline) == (
            "proj-899",
            750,
            [],
            True,
        )
        assert (second.trace_id, second.p99_latency_ms, second.regressed, second.retry_attempt) == (
            "proj-933",
            None,
            True,
            1,
        )
        assert store.baseline(CHECKOUT) == first
        assert store.last_validated_pass(CHECKOUT) == first
        pushed = store.push(
            RunRecord(**{**CHECKOUT.__dict__, "trace_id": "new", "score_log": [{"event": "score"}]})
        )
        assert store.get(str(pushed.run_id)) == pushed


# -- SQLite ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"this is not a database, it is a note\n" * 40,
            "expected a SQLite memory store, got file is not a database",
        ),
        (b'{"schemaVersion": 2, "runs": []}', "this looks like JSON: open it as json://<path>"),
    ],
    ids=["text", "json-without-json-name"],
)
def test_sqlite_refuses_a_file_that_is_not_a_database_and_leaves_it_untouched(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "memory.db"
    path.write_bytes(content)
    before = snapshot(tmp_path)

    with pytest.raises(MemoryStoreError) as caught:
        open_store(path)

    assert str(caught.value).startswith(f"{path}: <file>: ")
    assert message in str(caught.value)
    assert snapshot(tmp_path) == before  # no journal or WAL files either


def test_sqlite_refuses_another_applications_database_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    before = snapshot(tmp_path)

    with pytest.raises(
        MemoryStoreError,
        match=r"expected an sk-loadagent memory store .*got a SQLite database with tables users",
    ):
        open_store(f"sqlite://{path}")
    assert snapshot(tmp_path) == before


def test_sqlite_refuses_a_store_of_a_newer_schema_untouched(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    open_store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schemaVersion'")
    conn.close()
    before = snapshot(tmp_path)

    with pytest.raises(
        MemoryStoreError, match=r"schemaVersion: expected 4 or older .*upgrade sk-loadagent.*got 99"
    ):
        open_store(path)
    assert snapshot(tmp_path) == before


def test_sqlite_v1_store_migrates_forward_in_one_transaction(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "v1_sqlite.sql").read_text())
    conn.close()

    check_migrated(str(path))

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schemaVersion'").fetchone() == (
            str(SCHEMA_VERSION),
        )
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        assert {"p99_latency_ms", "score_log"} <= columns
    finally:
        conn.close()


def test_sqlite_store_is_created_with_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "memory.sqlite"
    with open_store(path) as store:
        assert store.url == f"sqlite://{path}"
        assert store.keys() == []
    assert path.exists()


def test_sqlite_a_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(MemoryStoreError, match="expected a SQLite database file, got a directory"):
        open_store(tmp_path)


# -- PostgreSQL --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_v1_store_migrates_forward(pg_server: str, pg_schema: str, pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
        conn.execute(f'SET search_path TO "{pg_schema}"')
        conn.execute((FIXTURES / "v1_postgres.sql").read_text().encode())

    check_migrated(pg_url)

    with psycopg.connect(pg_server) as conn:
        version = conn.execute(f'SELECT value FROM "{pg_schema}".sk_loadagent_meta').fetchone()
    assert version == (str(SCHEMA_VERSION),)


@pytest.mark.postgres
def test_postgres_refuses_a_store_of_a_newer_schema(pg_server: str, pg_schema: str, pg_url: str) -> None:
    import psycopg

    with open_store(pg_url) as store:
        store.push(RunRecord(module_id="M", trace_id="kept"))
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"UPDATE \"{pg_schema}\".sk_loadagent_meta SET value = '99'")

    with pytest.raises(MemoryStoreError, match=r"schemaVersion: expected 4 or older .*got 99"):
        open_store(pg_url)
    with psycopg.connect(pg_server) as conn:
        rows = conn.execute(f'SELECT trace_id FROM "{pg_schema}".sk_loadagent_runs').fetchall()
        columns = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (pg_schema, "sk_loadagent_runs"),
        ).fetchone()
    assert rows == [("kept",)]
    assert columns is not None
    assert columns[0] > 0


def test_postgres_connection_failure_names_the_url_without_its_password() -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://loadagent:s3cret@127.0.0.1:1/perf?connect_timeout=2"  # nothing listens on port 1

    with pytest.raises(MemoryStoreError) as caught:
        open_store(url)

    message = str(caught.value)
    assert message.startswith(
        "postgresql://loadagent:***@127.0.0.1:1/perf?connect_timeout=2: <connection>: "
        "expected a PostgreSQL server we can connect to, got "
    )
    assert "s3cret" not in message


def test_postgres_without_psycopg_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    monkeypatch.delitem(sys.modules, "sk_loadagent.memory._postgres_store", raising=False)

    with pytest.raises(MemoryStoreError) as caught:
        open_store("postgres://user:pw@127.0.0.1/db")

    assert str(caught.value) == (
        "postgres://user:***@127.0.0.1/db: the PostgreSQL store needs psycopg: "
        "pip install 'sk-loadagent[postgres]'"
    )
