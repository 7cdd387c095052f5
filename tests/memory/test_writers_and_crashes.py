"""Parallel writer processes lose nothing; a writer killed mid-write leaves a readable, intact store."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from types import ModuleType

import pytest

from sk_loadagent.memory import open_store

WORKERS = 4
PUSHES = 25


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # Spawned children import the worker functions by module name, using the parent's sys.path.
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import memory_store_workers

    return memory_store_workers


def kind_of(url: str) -> str:
    return "json" if url.endswith(".json") else url.partition("://")[0].replace("postgresql", "postgres")


def test_parallel_writer_processes_lose_nothing(store_url: str, workers: ModuleType) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=workers.push_many, args=(store_url, w, PUSHES)) for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * WORKERS

    with open_store(store_url) as store:
        runs = store.series(workers.KEY)
        assert len(runs) == WORKERS * PUSHES
        assert {r.trace_id for r in runs} == {f"w{w}-{i}" for w in range(WORKERS) for i in range(PUSHES)}
        assert len({r.run_id for r in runs}) == WORKERS * PUSHES
        for w in range(WORKERS):  # each writer's runs in the order it pushed them
            mine = [r.metrics["i"] for r in runs if r.metrics["worker"] == w]
            assert mine == list(range(PUSHES))
        assert sum(r.is_baseline for r in runs) == 1
        assert store.baseline(workers.KEY) is not None


def test_writer_killed_mid_write_leaves_the_store_readable_and_intact(
    store_url: str, workers: ModuleType, tmp_path: Path
) -> None:
    with open_store(store_url) as store:
        before = [store.push(workers.record(f"before-{i}", is_baseline=i == 1)) for i in range(2)]

    marker = tmp_path / "stalled"
    context = multiprocessing.get_context("spawn")
    writer = context.Process(
        target=workers.stall_mid_write, args=(store_url, kind_of(store_url), str(marker))
    )
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert writer.is_alive(), f"the writer exited early with code {writer.exitcode}"
            assert time.monotonic() < deadline, "the writer never reached the middle of its write"
            time.sleep(0.02)
    finally:
        writer.kill()
        writer.join(timeout=30)
    if store_url.endswith(".json"):  # the crash left a half-written temp file beside an intact store
        stale = [p for p in Path(store_url).parent.iterdir() if p.name.endswith(".tmp")]
        assert len(stale) == 1
        assert 0 < stale[0].stat().st_size < 4_000_000
    if store_url.startswith("sqlite://"):  # the uncommitted row reached the write-ahead log
        assert Path(store_url.removeprefix("sqlite://") + "-wal").stat().st_size > 1_000_000

    with open_store(store_url) as store:
        assert store.series(workers.KEY) == before
        assert store.baseline(workers.KEY) == before[1]
        after = store.push(workers.record("after"))  # the dead writer holds no lock
        assert [r.trace_id for r in store.series(workers.KEY)] == ["before-0", "before-1", "after"]
        assert store.get(str(after.run_id)) == after
    if store_url.endswith(".json"):
        leftovers = [p.name for p in Path(store_url).parent.iterdir() if p.name.endswith(".tmp")]
        assert leftovers == []  # the next writer removed the dead writer's temp file
