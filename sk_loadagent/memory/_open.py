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


class MissingStoreError(MemoryStoreError):
    """``open_store(..., create=False)`` found no file store at the path."""


def check_store_url(url: str | Path) -> None:
    """Raise MemoryStoreError when ``url`` is no store URL at all (an unknown scheme, nothing after
    ``://``), without opening or creating anything."""
    _locate(url)


def open_store(url: str | Path, *, create: bool = True) -> MemoryStore:
    """Open the memory store at ``url``; see ``ACCEPTED_FORMS``. A file store is created when new, unless
    ``create`` is false (a reader: a mistyped path must not show as an empty history).

    Raises MemoryStoreError for an unknown scheme, a file that is not a store (left untouched), a store
    written by a newer sk-loadagent, a PostgreSQL URL without psycopg installed, or, without ``create``,
    a file store that does not exist.
    """
    kind, where = _locate(url)
    if isinstance(where, Path):
        if not create and not where.exists():
            raise MissingStoreError(f"{url}: no memory store there (nothing stored yet, or a mistyped path)")
        return JsonStore(where) if kind == "json" else SqliteStore(where)
    return _open_postgres(where)


def open_store_for_run(url: str | Path) -> MemoryStore:
    """The store a run compares with and pushes to, checked before any load is sent: it opens and is a
    store (else MemoryStoreError, bad input), it answers (else StoreUnavailableError, the agent's failure),
    and it takes runs (a perf-baseline.memory.json is read only: bad input)."""
    store = open_store(url)
    if isinstance(store, JsonStore):
        try:
            store.check_writable()
        except MemoryStoreError:
            store.close()
            raise
    return store


def _locate(url: str | Path) -> tuple[str, Path | str]:
    """``("json" | "sqlite", file)`` or ``("postgresql", url)``."""
    if isinstance(url, Path):
        return _by_suffix(url.expanduser())
    text = url.strip()
    if not text:
        raise MemoryStoreError(f"memory store: expected {ACCEPTED_FORMS}, got an empty string")
    scheme, separator, rest = text.partition("://")
    if not separator:
        return _by_suffix(Path(text).expanduser())
    scheme = scheme.lower()
    if scheme in ("json", "sqlite"):
        return scheme, _path_of(rest, text)
    if scheme in ("postgresql", "postgres"):
        return "postgresql", text
    raise MemoryStoreError(
        f"{redact(text)}: unknown memory store scheme '{scheme}://'; expected {ACCEPTED_FORMS}"
    )


def _by_suffix(path: Path) -> tuple[str, Path]:
    return ("json" if path.suffix.lower() == ".json" else "sqlite"), path


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
