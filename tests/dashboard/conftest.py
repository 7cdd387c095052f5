"""A Studio-like store (``dashboard_builders``) in each kind of memory store, and the dashboard over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_builders import fill_store
from local_services import postgres_server
from starlette.testclient import TestClient

from sk_loadagent.dashboard import create_app
from sk_loadagent.memory import open_store


@pytest.fixture(scope="module")
def studio_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store holding 8 series of 12 builds each, shared by a module's tests (they only read)."""
    path = tmp_path_factory.mktemp("studio") / "memory.sqlite"
    with open_store(path) as store:
        fill_store(store)
    return str(path)


@pytest.fixture(scope="module")
def client(studio_store: str) -> Iterator[TestClient]:
    with TestClient(create_app(studio_store)) as started:
        yield started


@pytest.fixture
def pg_url() -> Iterator[str]:
    from local_services import drop_schema, new_schema, schema_url

    server = postgres_server()
    schema = new_schema("skla_dash")
    yield schema_url(server, schema)
    drop_schema(server, schema)


def store_path(tmp_path: Path, name: str) -> str:
    return str(tmp_path / name)
