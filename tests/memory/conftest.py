"""Store URLs for the behavioural suite: the same tests run against JSON, SQLite and PostgreSQL.

PostgreSQL tests use ``SK_LOADAGENT_TEST_POSTGRES`` (default: the local server, trust auth), each in a
schema of its own that is dropped afterwards; they skip with the reason when psycopg or the server is
missing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("SK_LOADAGENT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The server URL, or a skip saying why there is none."""
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'sk-loadagent[postgres]')")
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}: {str(exc).strip().splitlines()[0]}")
    return PG_URL


@pytest.fixture
def pg_schema(pg_server: str) -> Iterator[str]:
    """A fresh schema name; the schema (created by the store or the test) is dropped afterwards."""
    import psycopg

    name = f"skla_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_server, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_url(pg_server: str, pg_schema: str) -> str:
    separator = "&" if "?" in pg_server else "?"
    return f"{pg_server}{separator}schema={pg_schema}"


@pytest.fixture(params=["json", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "json":
        return str(tmp_path / "perf-metrics.memory.json")
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'memory.db'}"
    return str(request.getfixturevalue("pg_url"))
