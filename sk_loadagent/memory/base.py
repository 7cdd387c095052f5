"""The interface every memory store implements, and the pieces the stores share.

Stores are synchronous; async callers wrap them in ``asyncio.to_thread``. Runs come back oldest first,
ordered by ``createdAt`` and then by the order they were stored in. A ``limit`` keeps the newest runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

from sk_loadagent.errors import InputProblem, MemoryStoreError
from sk_loadagent.memory.record import RunRecord, SeriesKey

if TYPE_CHECKING:
    from sk_loadagent.memory.history import HistoryRow


@runtime_checkable
class MemoryStore(Protocol):
    """Run history keyed by SeriesKey, with one baseline per key."""

    url: str

    def push(self, record: RunRecord) -> RunRecord:
        """Store a run and return it with ``runId``/``createdAt`` set; a run flagged ``isBaseline`` takes
        the flag from the other runs of its key in the same transaction. A ``runId`` already stored is an
        error: history is never overwritten."""
        ...

    def get(self, run_id: str) -> RunRecord | None: ...

    def series(self, key: SeriesKey, *, limit: int | None = None) -> list[RunRecord]:
        """The runs of one key, oldest to newest (the newest ``limit`` of them when given)."""
        ...

    def rows(self, key: SeriesKey, *, limit: int | None = None) -> list[HistoryRow]:
        """The runs of one key as history rows (no perf-metrics read), oldest to newest, the newest
        ``limit`` of them when given: what trends and heatmaps draw, cheap enough for thousands of runs."""
        ...

    def find(
        self,
        *,
        module_id: str | None = None,
        edition_id: str | None = None,
        test_type: str | None = None,
        endpoint: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs matching every filter given (``None`` means any value), oldest to newest."""
        ...

    def keys(self) -> list[SeriesKey]:
        """Every key with at least one run, in ``SeriesKey.sort_key`` order."""
        ...

    def baseline(self, key: SeriesKey) -> RunRecord | None:
        """The run flagged ``isBaseline`` in ``key`` unless it was marked obsolete."""
        ...

    def last_validated_pass(self, key: SeriesKey) -> RunRecord | None:
        """The newest run of ``key`` that was validated and passed."""
        ...

    def set_baseline(self, key: SeriesKey, run_id: str) -> None:
        """Move the baseline flag of ``key`` to ``run_id`` (clearing its obsolete flag) in one transaction."""
        ...

    def mark_obsolete(self, key: SeriesKey) -> None:
        """Flag the current baseline of ``key`` obsolete; nothing happens when there is none."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class StoreBase:
    """Context-manager support, the closed check and the argument checks every store shares."""

    url: str
    _closed: bool = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise MemoryStoreError(f"{self.url}: the store is closed")


def store_error(source: str, field: str, expected: str, got: str | None = None) -> MemoryStoreError:
    """An error worded like InputError: ``<source>: <field>: expected <what>, got <value>``."""
    return MemoryStoreError(f"{source}: {InputProblem(field, expected, got).describe()}")


def check_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise store_error("memory query", "limit", "a whole number ≥ 0 or nothing", repr(limit))
    return limit


def newest(records: Sequence[RunRecord], limit: int | None) -> list[RunRecord]:
    """The last ``limit`` of records already ordered oldest to newest."""
    if limit is None:
        return list(records)
    return list(records[max(0, len(records) - limit) :])


def stamped(record: RunRecord) -> RunRecord:
    """``record`` with a fresh uuid4 ``runId`` and the current UTC time where they are missing."""
    update: dict[str, object] = {}
    if record.run_id is None:
        update["run_id"] = uuid.uuid4().hex
    if record.created_at is None:
        update["created_at"] = datetime.now(UTC)
    return record.model_copy(update=update) if update else record


def duplicate_run(source: str, run_id: str) -> MemoryStoreError:
    return store_error(source, "runId", "a run id not stored yet (history is never overwritten)", run_id)


def unknown_run(source: str, key: SeriesKey, run_id: str, found: SeriesKey | None) -> MemoryStoreError:
    got = f"no run {run_id}" if found is None else f"run {run_id} of {found}"
    return store_error(source, "runId", f"a run of {key}", got)
