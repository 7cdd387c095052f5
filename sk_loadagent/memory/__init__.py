"""Memory stores: the run history that baselines, regressions and trends are judged against.

``open_store(url)`` picks the store from the URL: a ``.json`` path or ``json://`` (one JSON document),
another path or ``sqlite://`` (SQLite, the embedded default), ``postgresql://`` (PostgreSQL, extra
``postgres``). Every store keeps history safe from parallel writers, crashes mid-write and bad input,
carries a schema version and migrates older stores forward.
"""

from sk_loadagent.memory._open import (
    ACCEPTED_FORMS,
    MissingStoreError,
    check_store_url,
    open_store,
    open_store_for_run,
)
from sk_loadagent.memory._schema import SCHEMA_VERSION, NewerStoreError
from sk_loadagent.memory._urls import redact
from sk_loadagent.memory.base import MemoryStore
from sk_loadagent.memory.history import HistoryRow, history_rows
from sk_loadagent.memory.record import RunRecord, SeriesKey

__all__ = [
    "ACCEPTED_FORMS",
    "SCHEMA_VERSION",
    "HistoryRow",
    "MemoryStore",
    "MissingStoreError",
    "NewerStoreError",
    "RunRecord",
    "SeriesKey",
    "check_store_url",
    "history_rows",
    "open_store",
    "open_store_for_run",
    "redact",
]
