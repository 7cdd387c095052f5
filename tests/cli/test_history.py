"""``sk-loadagent history``: the stored runs of each series with its baseline and change points.

A SQLite store is seeded with twelve runs of one series whose p95 steps from ~100 ms to ~150 ms at the
seventh run, plus two small series for the filters; the CLI is called through ``main`` as a user would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from sk_loadagent.cli.main import DEFAULT_MEMORY, MEMORY_ENV, main
from sk_loadagent.memory import RunRecord, SeriesKey, open_store

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CHECKOUT = SeriesKey(
    edition_id="vetclinic", module_id="CheckoutService", test_type="load", endpoint="/checkout"
)
PREMIUM = SeriesKey(
    edition_id="vetclinic-premium", module_id="CheckoutService", test_type="load", endpoint="/checkout"
)
NOTIFY = SeriesKey(
    edition_id="vetclinic", module_id="NotificationService", test_type="spike", endpoint="/notify"
)
STEP_AT = 6


def _record(key: SeriesKey, run_id: str, at: datetime, p95: float, **fields: object) -> RunRecord:
    values: dict[str, object] = {
        "run_id": run_id,
        "created_at": at,
        **key.__dict__,
        "trace_id": f"trace-{run_id}",
        "status": "pass",
        "performance_score": 0.95,
        "p95_latency_ms": p95,
        "rps": 100.0,
        "error_rate": 0.0,
    }
    return RunRecord.model_validate({**values, **fields})


NOISE = np.random.default_rng(7).normal(0.0, 2.0, 12)
CHECKOUT_P95 = [round((100.0 if i < STEP_AT else 150.0) + float(NOISE[i]), 2) for i in range(12)]
STEP = f"{(np.mean(CHECKOUT_P95[STEP_AT:]) / np.mean(CHECKOUT_P95[:STEP_AT]) - 1) * 100:+.0f}%"


def _seed(path: Path) -> None:
    with open_store(path) as store:
        for i, p95 in enumerate(CHECKOUT_P95):
            store.push(_record(CHECKOUT, f"run-{i:02d}", T0 + timedelta(hours=i), p95, is_baseline=i == 0))
        for i in range(3):
            store.push(
                _record(PREMIUM, f"premium-{i}", T0 + timedelta(hours=i), 120.0 + i, is_baseline=i == 0)
            )
        for i in range(2):
            store.push(_record(NOTIFY, f"notify-{i}", T0 + timedelta(hours=i), 300.0, status="warning"))


@pytest.fixture
def memory(tmp_path: Path) -> str:
    path = tmp_path / "memory.sqlite"
    _seed(path)
    return str(path)


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    assert main(["history", *argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out, list)
    return out


def test_json_lists_every_run_with_the_change_point_on_the_first_run_of_the_new_regime(
    memory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _json(capsys, "--memory", memory)

    assert len(runs) == 12 + 3 + 2
    checkout = [r for r in runs if r["moduleId"] == "CheckoutService" and r["editionId"] == "vetclinic"]
    assert [r["runId"] for r in checkout] == [f"run-{i:02d}" for i in range(12)]
    assert [r["runId"] for r in runs if r["changePoint"] is not None] == [f"run-{STEP_AT:02d}"]
    point = checkout[STEP_AT]["changePoint"]
    assert isinstance(point, dict)
    assert point["relChange"] == STEP == "+52%"
    assert point["p95Before"] == pytest.approx(100, abs=2)
    assert point["p95After"] == pytest.approx(150, abs=2)
    assert point["pValue"] == 0.015
    assert point["index"] == STEP_AT
    assert (point["runIdBefore"], point["traceIdBefore"]) == ("run-05", "trace-run-05")
    assert (point["runIdAfter"], point["traceIdAfter"]) == ("run-06", "trace-run-06")
    assert point["magnitude"] == pytest.approx(0.34, abs=0.005)
    first = checkout[0]
    assert first == {
        "editionId": "vetclinic",
        "moduleId": "CheckoutService",
        "testType": "load",
        "endpoint": "/checkout",
        "loadProfile": None,
        "runId": "run-00",
        "createdAt": "2025-03-01T09:00:00Z",
        "traceId": "trace-run-00",
        "status": "pass",
        "performanceScore": 0.95,
        "p95LatencyMs": first["p95LatencyMs"],
        "rps": 100.0,
        "errorRate": 0.0,
        "regressed": False,
        "isBaseline": True,
        "baselineObsolete": False,
        "validated": True,
        "infrastructureFailure": False,
        "retryAttempt": 0,
        "changePoint": None,
    }


def test_the_table_shows_each_series_with_its_baseline_and_change_point(
    memory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "--memory", memory]) == 0
    out = capsys.readouterr().out

    assert "vetclinic / CheckoutService / load / /checkout  (12 runs)" in out
    assert "  baseline: run-00 from 2025-03-01 09:00 (p95 " in out
    step_row = next(line for line in out.splitlines() if line.startswith("  2025-03-01 15:00 pass"))
    assert f"change point {STEP} (p=0.015)" in step_row
    above = out.splitlines()[out.splitlines().index(step_row) - 1]
    assert above.startswith("  -- p95 ")
    assert above.endswith(f"({STEP}, magnitude 34%, p=0.015) after run run-05 --")
    assert sum("change point" in line for line in out.splitlines()) == 1
    assert "vetclinic / NotificationService / spike / /notify  (2 runs)" in out
    assert "  baseline: none yet (the next run is exploratory)" in out  # NotificationService has none


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--edition", "vetclinic-premium"], {"premium-0", "premium-1", "premium-2"}),
        (["--module", "NotificationService"], {"notify-0", "notify-1"}),
        (["--test-type", "spike"], {"notify-0", "notify-1"}),
        (
            ["--module", "CheckoutService", "--edition", "vetclinic-premium", "--test-type", "load"],
            {"premium-0", "premium-1", "premium-2"},
        ),
    ],
)
def test_filters_keep_only_matching_runs(
    memory: str, capsys: pytest.CaptureFixture[str], filters: list[str], expected: set[str]
) -> None:
    assert {r["runId"] for r in _json(capsys, "--memory", memory, *filters)} == expected


def test_an_empty_store_or_no_match_prints_one_clear_line(
    tmp_path: Path, memory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.sqlite"
    open_store(empty).close()
    assert main(["history", "--memory", str(empty)]) == 0
    assert capsys.readouterr().out == f"No stored runs in {empty} match the filters.\n"

    assert main(["history", "--memory", memory, "--module", "NoSuchService"]) == 0
    assert capsys.readouterr().out == f"No stored runs in {memory} match the filters.\n"

    assert _json(capsys, "--memory", str(empty)) == []


def test_an_obsolete_baseline_is_shown_as_obsolete_and_still_compared_against(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "memory.sqlite"
    with open_store(path) as store:
        store.push(_record(PREMIUM, "old", T0, 100.0, is_baseline=True))
        for i in range(3):
            store.push(
                _record(
                    PREMIUM,
                    f"slow-{i}",
                    T0 + timedelta(hours=i + 1),
                    160.0,
                    status="degraded",
                    regressed=True,
                )
            )
        store.mark_obsolete(PREMIUM)

    assert main(["history", "--memory", str(path)]) == 0
    out = capsys.readouterr().out

    assert "  baseline: old, obsolete (still compared against; the next validated pass replaces it)" in out
    assert "baseline, obsolete" in next(
        line for line in out.splitlines() if line.startswith("  2025-03-01 09:00")
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/memory", "unknown memory store scheme 'ftp://'"),
        ("sqlite://", "expected a file path after '://'"),
    ],
)
def test_a_bad_memory_url_exits_2_with_a_message(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "--memory", url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("sk-loadagent: bad input: ")
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_a_file_that_is_not_a_store_exits_2_and_is_left_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    assert main(["history", "--memory", str(notes)]) == 2
    assert "expected a SQLite memory store" in capsys.readouterr().err
    assert notes.read_text() == "not a database\n"


@pytest.mark.parametrize("form", ["{}", "sqlite://{}", "{}.json", "json://{}.json"])
def test_a_store_that_does_not_exist_exits_2_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    path = tmp_path / "typo" / "memroy"
    url = form.format(path)
    assert main(["history", "--memory", url]) == 2
    err = capsys.readouterr().err
    assert "no memory store there" in err
    assert not (tmp_path / "typo").exists()


def test_the_default_store_comes_from_the_environment_and_is_never_created(
    tmp_path: Path, memory: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    assert main(["history"]) == 2
    assert f"{DEFAULT_MEMORY}: no memory store there" in capsys.readouterr().err
    assert not (tmp_path / DEFAULT_MEMORY).parent.exists()

    monkeypatch.setenv(MEMORY_ENV, memory)
    assert len(_json(capsys)) == 17


def test_a_long_series_is_analysed_over_its_latest_runs_and_says_so(
    memory: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sk_loadagent.analysis.history.CHANGE_POINT_WINDOW", 10)
    note = (
        "change points of vetclinic / CheckoutService / load / /checkout over its latest 10 of 12 runs "
        "(older runs are left out to bound the time)"
    )

    assert main(["history", "--memory", memory]) == 0
    out = capsys.readouterr().out
    assert f"  {note}\n" in out
    assert "latest" not in out.split("NotificationService")[1]  # a short series is analysed whole

    runs = _json(capsys, "--memory", memory, "--module", "CheckoutService")
    point = next(r["changePoint"] for r in runs if r["changePoint"] is not None)
    assert isinstance(point, dict)
    assert point["index"] == STEP_AT  # counted over the whole series, not the window
    assert point["runIdAfter"] == f"run-{STEP_AT:02d}"


def test_the_window_note_goes_to_stderr_so_json_stays_valid(
    memory: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sk_loadagent.analysis.history.CHANGE_POINT_WINDOW", 10)
    assert main(["history", "--memory", memory, "--json", "--module", "CheckoutService"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 15
    assert captured.err == (
        "change points of vetclinic / CheckoutService / load / /checkout over its latest 10 of 12 runs "
        "(older runs are left out to bound the time)\n"
    )


def test_each_load_is_its_own_series_and_outages_are_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifty = SeriesKey(**{**CHECKOUT.__dict__, "load_profile": "open 50 rps: steady; 15 s–1 min"})
    five = SeriesKey(**{**CHECKOUT.__dict__, "load_profile": "open 5 rps: steady; 15 s–1 min"})
    path = tmp_path / "memory.sqlite"
    with open_store(path) as store:
        store.push(_record(fifty, "base", T0, 100.0, is_baseline=True))
        store.push(
            _record(fifty, "outage", T0 + timedelta(hours=1), 0.0, status="fail", infrastructure_failure=True)
        )
        store.push(_record(five, "smoke", T0 + timedelta(hours=2), 40.0, is_baseline=True))

    assert main(["history", "--memory", str(path)]) == 0
    out = capsys.readouterr().out

    assert "vetclinic / CheckoutService / load / /checkout @ open 50 rps: steady; 15 s–1 min  (2 runs)" in out
    assert "vetclinic / CheckoutService / load / /checkout @ open 5 rps: steady; 15 s–1 min  (1 runs)" in out
    outage = next(line for line in out.splitlines() if line.startswith("  2025-03-01 10:00"))
    assert outage.endswith("infrastructure failure")
