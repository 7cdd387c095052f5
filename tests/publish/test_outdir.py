"""The output folder: one run at a time, its artifacts land as one set, and a failed run leaves none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sk_loadagent.errors import InputError
from sk_loadagent.publish.outdir import STAGING_PREFIX, OutputFolder, run_files

EDITION, MODULE = "vetclinic", "CheckoutService"
TOP_LEVEL = [
    "perf-metrics.json",
    "load-trace-map.yaml",
    "studio.performance.preview.json",
    "performance-score.log.jsonl",
    "regression-alert.yaml",
    "report.html",
    "trace-summary.json",
    "flamegraph.svg",
    "cpu-flamegraph.svg",
]
OWN_COPIES = [
    "metrics/vetclinic/checkoutservice.json",
    "alerts/vetclinic/checkoutservice.yaml",
    "badges/vetclinic/checkoutservice.svg",
]


def files(folder: Path) -> dict[str, str]:
    """Every file under the folder (relative name -> text), staging folders included."""
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def stage(output: OutputFolder, run: str, names: list[str]) -> None:
    for name in names:
        path = output.staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(run)


def published(folder: Path, run: str, names: list[str]) -> None:
    with OutputFolder.claim(folder) as output:
        stage(output, run, names)
        output.commit(EDITION, MODULE)


def test_the_names_a_run_owns_start_with_perf_metrics() -> None:
    assert [str(p) for p in run_files(EDITION, MODULE)] == TOP_LEVEL + OWN_COPIES
    assert [str(p) for p in run_files(None, None, scoped=False)] == TOP_LEVEL


def test_a_commit_moves_the_staged_set_in_with_perf_metrics_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "perf"
    moved: list[str] = []
    real_replace = os.replace

    def recording(src: str | Path, dst: str | Path) -> None:
        moved.append(str(Path(dst).relative_to(out)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording)
    published(out, "run-1", TOP_LEVEL[:4] + OWN_COPIES[:1])

    assert moved[-1] == "perf-metrics.json"
    assert sorted(moved) == sorted(TOP_LEVEL[:4] + OWN_COPIES[:1])
    assert files(out) == dict.fromkeys(TOP_LEVEL[:4] + OWN_COPIES[:1], "run-1")


def test_a_commit_removes_the_alert_of_an_earlier_run_that_this_run_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    published(out, "run-1", TOP_LEVEL + OWN_COPIES)
    published(out, "run-2", TOP_LEVEL[:4] + OWN_COPIES[:1])

    assert files(out) == dict.fromkeys(TOP_LEVEL[:4] + OWN_COPIES[:1], "run-2")


def test_a_commit_keeps_the_mode_of_a_file_it_replaces(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    published(out, "run-1", ["perf-metrics.json"])
    (out / "perf-metrics.json").chmod(0o640)
    published(out, "run-2", ["perf-metrics.json"])

    assert (out / "perf-metrics.json").stat().st_mode & 0o777 == 0o640


def test_a_failed_run_removes_the_earlier_runs_files_under_its_names_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    published(out, "run-1", TOP_LEVEL + OWN_COPIES)
    other_edition = out / "metrics" / "premium" / "checkoutservice.json"
    other_edition.parent.mkdir()
    other_edition.write_text("premium run")

    with OutputFolder.claim(out) as output:
        stage(output, "run-2 (half)", TOP_LEVEL[:2])
        output.discard(EDITION, MODULE)

    assert files(out) == {"metrics/premium/checkoutservice.json": "premium run"}


def test_a_run_that_failed_before_its_plan_was_read_removes_only_the_top_level_names(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    published(out, "run-1", TOP_LEVEL + OWN_COPIES)

    with OutputFolder.claim(out) as output:
        output.discard(None, None)

    assert files(out) == dict.fromkeys(OWN_COPIES, "run-1")


def test_a_failed_run_removes_the_folder_it_created_and_keeps_one_that_existed(tmp_path: Path) -> None:
    created = tmp_path / "new" / "perf"
    with OutputFolder.claim(created) as output:
        output.discard(None, None)
    assert not (tmp_path / "new").exists()

    existing = tmp_path / "existing"
    existing.mkdir()
    with OutputFolder.claim(existing) as output:
        output.discard(None, None)
    assert existing.is_dir()


def test_a_second_run_into_a_held_folder_is_refused_and_the_first_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    with OutputFolder.claim(out) as first:
        with pytest.raises(InputError) as refused:
            OutputFolder.claim(out)
        assert str(refused.value) == (
            f"--out: {out}: expected a folder no other run is writing to, got one in use by another "
            "sk-loadagent run (wait for it to end, or choose another --out)"
        )
        assert refused.value.exit_code == 2
        stage(first, "run-1", ["perf-metrics.json"])
        first.commit(EDITION, MODULE)

    assert files(out) == {"perf-metrics.json": "run-1"}
    with OutputFolder.claim(out):  # released: the next run may start
        pass


def test_a_path_below_a_file_is_refused_naming_the_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "report.txt"
    blocker.write_text("not a folder")

    with pytest.raises(InputError) as below:
        OutputFolder.claim(blocker / "perf")
    with pytest.raises(InputError) as itself:
        OutputFolder.claim(blocker)

    assert str(below.value) == (
        f"--out: {blocker / 'perf'}: expected a folder this run can write to, got Not a directory"
    )
    assert str(itself.value) == f"--out: {blocker}: expected a folder this run can write to, got a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the file cases cover it")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    out.mkdir(mode=0o500)
    with pytest.raises(InputError, match="expected a folder this run can write to, got Permission denied"):
        OutputFolder.claim(out)


def test_staging_left_by_a_killed_run_is_removed_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "perf"
    leftover = out / f"{STAGING_PREFIX}killed"
    (leftover / "metrics").mkdir(parents=True)
    (leftover / "perf-metrics.json").write_text("half")

    with OutputFolder.claim(out) as output:
        assert [p.name for p in out.iterdir()] == [output.staging.name]
    assert list(out.iterdir()) == []
