"""``open_store``: a store URL or path to the store that serves it."""

from __future__ import annotations

from pathlib import Path

from sk_loadagent.errors import MemoryStoreError
from sk_loadagent.memory._json_store import JsonStore
from sk_loadagent.memory._sqlite_store import SqliteStore
from sk_loadagent.memory._urls import redact
from sk_loadagent.memory.base import MemoryStore

ACCEPTED_FORMS = (
    "a path ending in .json or json://path (JSON file store), any other path or sqlite:///abs/path or "
    "sqlite://relative/path (SQLite store), or postgresql://... / postgres://... (PostgreSQL store)"
)


def open_store(url: str | Path) -> MemoryStore:
    """Open (creating when new) the memory store at ``url``; see ``ACCEPTED_FORMS``.

    Raises MemoryStoreError for an unknown scheme, a file that is not a store (left untouched), a store
    written by a newer sk-loadagent, or a PostgreSQL URL without psycopg installed.
    """
    if isinstance(url, Path):
        return _open_path(url.expanduser())
    text = url.strip()
    if not text:
        raise MemoryStoreError(f"memory store: expected {ACCEPTED_FORMS}, got an empty string")
    scheme, separator, rest = text.partition("://")
    if not separator:
        return _open_path(Path(text).expanduser())
    scheme = scheme.lower()
    if scheme == "json":
        return JsonStore(_path_of(rest, text))
    if scheme == "sqlite":
        return SqliteStore(_path_of(rest, text))
    if scheme in ("postgresql", "postgres"):
        return _open_postgres(text)
    raise MemoryStoreError(
        f"{redact(text)}: unknown memory store scheme '{scheme}://'; expected {ACCEPTED_FORMS}"
    )


def _open_path(path: Path) -> MemoryStore:
    return JsonStore(path) if path.suffix.lower() == ".json" else SqliteStore(path)


def _path_of(rest: str, url: str) -> Path:
    if not rest:
        raise MemoryStoreError(f"{url}: expected a file path after '://'")
    return Path(rest).expanduser()


def _open_postgres(url: str) -> MemoryStore:
    try:
        from sk_loadagent.memory._postgres_store import PostgresStore
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "psycopg":
            raise
        raise MemoryStoreError(
            f"{redact(url)}: the PostgreSQL store needs psycopg: pip install 'sk-loadagent[postgres]'"
        ) from None
    return PostgresStore(url)
