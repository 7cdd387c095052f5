"""The JSON file store: refusing what is not a store, migrating v1, importing spec baselines."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from sk_loadagent.errors import MemoryStoreError
from sk_loadagent.memory import SCHEMA_VERSION, RunRecord, SeriesKey, open_store

FIXTURES = Path(__file__).parent / "fixtures"
CHECKOUT = SeriesKey("vetclinic", "CheckoutService", "load", "/checkout/submit")


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


NOT_STORES = {
    "binary": (
        b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe",
        "<file>: expected a JSON memory store (UTF-8 text), got binary data",
    ),
    "broken-json": (
        b'{"schemaVersion": 2, "runs": [',
        "line 1 column 31: expected valid JSON, got a syntax error (Expecting value)",
    ),
    "a-number": (b"42", 'expected a memory store {"schemaVersion": N, "runs": [...]}'),
    "a-list-of-numbers": (b"[1, 2]", "got a list of other things"),
    "unrelated-mapping": (b'{"hello": "world"}', "got a mapping with fields hello"),
    "runs-not-a-list": (b'{"schemaVersion": 2, "runs": 3}', "runs: expected a list of runs, got 3"),
    "no-version": (b'{"runs": []}', "schemaVersion: expected a whole number from 1 to 4, got nothing"),
    "newer-version": (b'{"schemaVersion": 99, "runs": []}', "a newer sk-loadagent wrote this store"),
    "bad-run": (
        b'{"schemaVersion": 2, "runs": [{"runId": "r1", "createdAt": "2025-01-31T12:00:00Z", "rps": -5}]}',
        "runs[0].rps: expected a number greater than or equal to 0, got -5",
    ),
    "bad-outage-flag": (
        b'{"schemaVersion": 3, "runs": [{"runId": "r1", "createdAt": "2025-01-31T12:00:00Z", '
        b'"infrastructureFailure": "maybe"}]}',
        "runs[0].infrastructureFailure: expected true or false, got 'maybe'",
    ),
    "bad-load-profile": (
        b'{"schemaVersion": 3, "runs": [{"runId": "r1", "createdAt": "2025-01-31T12:00:00Z", '
        b'"loadProfile": 5}]}',
        "runs[0].loadProfile: expected text, got 5",
    ),
    "run-without-id": (
        b'{"schemaVersion": 2, "runs": [{"createdAt": "2025-01-31T12:00:00Z"}]}',
        "runs[0].runId: expected this field on every stored run",
    ),
    "bad-baseline-entry": (
        b'{"traceId": "proj-1", "p95LatencyMs": -3}',
        "p95LatencyMs: expected a number greater than or equal to 0",
    ),
}


@pytest.mark.parametrize("name", NOT_STORES)
def test_a_file_that_is_not_a_store_is_refused_by_name_and_left_untouched(tmp_path: Path, name: str) -> None:
    content, message = NOT_STORES[name]
    path = tmp_path / "perf-metrics.memory.json"
    path.write_bytes(content)
    before = snapshot(tmp_path)

    with pytest.raises(MemoryStoreError) as caught:
        open_store(path)

    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert snapshot(tmp_path) == before


def test_a_store_damaged_after_opening_refuses_writes_and_stays_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "perf-metrics.memory.json"
    store = open_store(path)
    store.push(RunRecord(module_id="M", trace_id="a"))
    path.write_text('{"schemaVersion": 2, "runs": [oops')
    damaged = path.read_bytes()

    with pytest.raises(MemoryStoreError, match="expected valid JSON"):
        store.push(RunRecord(module_id="M", trace_id="b"))
    with pytest.raises(MemoryStoreError, match="expected valid JSON"):
        store.keys()
    assert path.read_bytes() == damaged


def test_v1_store_migrates_forward_in_place_keeping_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "perf-metrics.memory.json"
    shutil.copy(FIXTURES / "v1_store.memory.json", path)
    original = path.read_bytes()

    with open_store(path) as store:
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

    assert (tmp_path / "perf-metrics.memory.json.v1.bak").read_bytes() == original
    migrated = json.loads(path.read_text())
    assert migrated["schemaVersion"] == SCHEMA_VERSION
    assert [run["p99LatencyMs"] for run in migrated["runs"]] == [750, None]
    assert all(run["scoreLog"] == [] for run in migrated["runs"])

    with open_store(path) as again:  # already current: no second backup, writes work
        again.push(
            RunRecord(edition_id="vetclinic", module_id="CheckoutService", test_type="load", trace_id="x")
        )
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".bak") == [
        "perf-metrics.memory.json.v1.bak"
    ]


def test_spec_cycle3_baseline_file_opens_read_only_as_one_record(tmp_path: Path) -> None:
    path = tmp_path / "perf-baseline.memory.json"
    shutil.copy(FIXTURES / "c03_perf-baseline.memory.json", path)
    before = snapshot(tmp_path)
    key = SeriesKey("vetclinic", None, "load", "/checkout/submit")

    with open_store(path) as store:
        assert store.keys() == [key]
        (entry,) = store.series(key)
        assert (entry.trace_id, entry.p95_latency_ms, entry.rps, entry.performance_score) == (
            "proj-899",
            420,
            110,
            0.91,
        )
        assert entry.metrics == json.loads((FIXTURES / "c03_perf-baseline.memory.json").read_text())
        assert store.baseline(key) == entry
        assert store.last_validated_pass(key) == entry
        with pytest.raises(MemoryStoreError, match=r"read only; push to a new \.json or SQLite store"):
            store.push(RunRecord(trace_id="x"))
        with pytest.raises(MemoryStoreError, match="read only"):
            store.mark_obsolete(key)
    with open_store(path) as again:
        assert again.series(key) == [entry]  # the same ids on every read
    assert snapshot(tmp_path) == before


def test_spec_cycle17_entry_and_a_list_of_entries_become_a_history(tmp_path: Path) -> None:
    cycle3 = json.loads((FIXTURES / "c03_perf-baseline.memory.json").read_text())
    cycle17 = json.loads((FIXTURES / "c17_memory-entry.json").read_text())
    degraded = {**cycle3, "traceId": "proj-933", "p95LatencyMs": 810, "status": "degraded"}
    path = tmp_path / "perf-baseline.memory.json"
    path.write_text(json.dumps([cycle3, cycle17, degraded]))
    checkout = SeriesKey("vetclinic", None, "load", "/checkout/submit")
    notifications = SeriesKey("vetclinic-premium", "NotificationService", "spike", None)

    with open_store(path) as store:
        assert [r.trace_id for r in store.series(checkout)] == ["proj-899", "proj-933"]
        baseline = store.baseline(checkout)
        assert baseline is not None
        assert baseline.trace_id == "proj-899"
        (entry,) = store.series(notifications)
        assert (entry.p95_latency_ms, entry.status, entry.is_baseline) == (530, None, True)
        assert store.last_validated_pass(notifications) is None  # no status: never counted as a pass


def test_an_empty_file_is_an_empty_store_and_a_push_keeps_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "perf-metrics.memory.json"
    path.touch()
    os.chmod(path, 0o640)

    with open_store(path) as store:
        assert store.keys() == []
        pushed = store.push(RunRecord(module_id="M", trace_id="a"))
        assert store.get(str(pushed.run_id)) == pushed

    assert path.stat().st_mode & 0o777 == 0o640
    assert json.loads(path.read_text())["schemaVersion"] == SCHEMA_VERSION


def test_a_new_store_is_created_with_its_directory_on_first_push(tmp_path: Path) -> None:
    path = tmp_path / "perf" / "memory" / "perf-metrics.memory.json"
    with open_store(path) as store:
        assert store.series(CHECKOUT) == []
        assert not path.exists()  # reading creates nothing
        store.push(RunRecord(module_id="M"))
    assert path.exists()


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    folder = tmp_path / "store.json"
    folder.mkdir()
    with pytest.raises(MemoryStoreError, match=r"store\.json: <file>: expected a JSON file, got a directory"):
        open_store(folder)


def test_changing_a_record_handed_out_never_reaches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "perf-metrics.memory.json"
    with open_store(path) as store:
        pushed = store.push(RunRecord(module_id="M", trace_id="a", metrics={"rps": 100}))
        with pytest.raises(ValidationError, match="frozen"):
            pushed.is_baseline = True  # type: ignore[misc]
        handed_out = store.series(pushed.key)[0]
        handed_out.metrics["rps"] = 1  # a caller scribbling on a returned dict
        store.push(RunRecord(module_id="M", trace_id="b"))

    stored = json.loads(path.read_text())["runs"][0]
    assert stored["metrics"] == {"rps": 100}


def test_temp_files_of_another_store_in_the_directory_are_left_alone(tmp_path: Path) -> None:
    neighbour_temp = tmp_path / f".perf-metrics.memory.json.json.{'a' * 32}.tmp"  # belongs to *.json.json
    own_stale_temp = tmp_path / f".perf-metrics.memory.json.{'b' * 32}.tmp"
    neighbour_temp.write_text("in progress")
    own_stale_temp.write_text("left by a dead writer")

    with open_store(tmp_path / "perf-metrics.memory.json") as store:
        store.push(RunRecord(module_id="M"))

    assert neighbour_temp.exists()
    assert not own_stale_temp.exists()
