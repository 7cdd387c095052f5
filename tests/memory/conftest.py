"""Store URLs for the behavioural suite: the same tests run against JSON, SQLite and PostgreSQL.

PostgreSQL tests use the local server (tests/local_services.py), each in a schema of its own that is
dropped afterwards; without psycopg or the server they skip with the reason, and fail under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from local_services import drop_schema, new_schema, postgres_server, schema_url

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The server URL, or a skip (a failure under CI=true) saying why there is none."""
    return postgres_server()


@pytest.fixture
def pg_schema(pg_server: str) -> Iterator[str]:
    """A fresh schema name; the schema (created by the store or the test) is dropped afterwards."""
    name = new_schema("skla_test")
    yield name
    drop_schema(pg_server, name)


@pytest.fixture
def pg_url(pg_server: str, pg_schema: str) -> str:
    return schema_url(pg_server, pg_schema)


@pytest.fixture(params=["json", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "json":
        return str(tmp_path / "perf-metrics.memory.json")
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'memory.db'}"
    return str(request.getfixturevalue("pg_url"))
