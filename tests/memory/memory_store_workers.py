"""Code that runs in spawned writer processes (importable by name, so not a test module).

``stall_mid_write`` replaces one step of a store's write path with a version that stops half way, tells
the parent through a marker file, and waits to be killed: the state a crash leaves behind.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO, Any

from sk_loadagent.memory import RunRecord, SeriesKey, open_store

KEY = SeriesKey("vetclinic", "ConcurrentService", "load", "/orders")
STALL_S = 60.0


def record(trace_id: str, **fields: Any) -> RunRecord:
    return RunRecord(
        edition_id=KEY.edition_id,
        module_id=KEY.module_id,
        test_type=KEY.test_type,
        endpoint=KEY.endpoint,
        trace_id=trace_id,
        status="pass",
        **fields,
    )


def push_many(url: str, worker: int, count: int) -> None:
    with open_store(url) as store:
        for i in range(count):
            store.push(record(f"w{worker}-{i}", is_baseline=i % 5 == 0, metrics={"worker": worker, "i": i}))


def _stall(marker: Path) -> None:
    marker.write_text("stalled")
    time.sleep(STALL_S)


def stall_mid_write(url: str, kind: str, marker: str) -> None:
    flag = Path(marker)
    if kind == "json":
        real_fdopen = os.fdopen

        class HalfThenStall:
            """The temp file's handle in the shared atomic writer: half the payload reaches the disk."""

            def __init__(self, handle: IO[bytes]) -> None:
                self._handle = handle

            def write(self, payload: bytes) -> None:
                self._handle.write(payload[: len(payload) // 2])
                self._handle.flush()
                _stall(flag)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._handle, name)

            def __enter__(self) -> HalfThenStall:
                return self

            def __exit__(self, *exc: object) -> None:
                self._handle.close()

        def stalling_fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> HalfThenStall:
            return HalfThenStall(real_fdopen(fd, mode, *args, **kwargs))

        # Only this spawned writer process is changed, and all it writes is the store.
        os.fdopen = stalling_fdopen
    else:
        module: Any
        if kind == "sqlite":
            from sk_loadagent.memory import _sqlite_store as module
        else:
            from sk_loadagent.memory import _postgres_store as module
        insert = module._insert

        def insert_then_stall(*args: Any) -> None:
            insert(*args)  # the row is written inside the open transaction, never committed
            _stall(flag)

        module._insert = insert_then_stall
    with open_store(url) as store:
        store.push(record("big", metrics={"blob": "x" * 4_000_000}, is_baseline=True))
