"""A tiny run of the judgement benchmark's pieces: the script works end to end and reports honestly."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from bench_scripts import import_bench_module as _import


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _import("judgement_bench")


@pytest.fixture(scope="module")
def changepoints() -> ModuleType:
    return _import("_judgement_changepoints")


def test_synthetic_series_has_the_noise_and_the_step(changepoints: ModuleType) -> None:
    flat = np.array(changepoints.synthetic_series(3, None))
    stepped = np.array(changepoints.synthetic_series(3, 12))
    base = changepoints.BASE_P95_MS
    assert flat.size == stepped.size == changepoints.BUILDS
    assert np.all(np.abs(flat / base - 1.0) <= changepoints.NOISE)
    assert np.all(stepped[:12] <= base * (1 + changepoints.NOISE))
    assert np.all(stepped[12:] >= base * 1.10 * (1 - changepoints.NOISE))


def test_step_builds_vary_within_the_range(changepoints: ModuleType) -> None:
    builds = {changepoints.step_build(seed) for seed in range(50)}
    assert min(builds) == changepoints.FIRST_STEP_BUILD
    assert max(builds) == changepoints.LAST_STEP_BUILD


def test_change_points_come_back_through_the_store(changepoints: ModuleType, tmp_path: Path) -> None:
    series = [100.0] * 15 + [130.0] * 15
    assert changepoints.found_indices(series, tmp_path) == [15]


def test_a_missed_target_is_reported_not_met(bench: ModuleType, changepoints: ModuleType) -> None:
    aa = _import("_judgement_aa")
    ab = _import("_judgement_ab")
    reference = _import("_judgement_reference")
    settings = bench.parse_settings(["--ab-runs", "40", "--seeds", "50"])
    case = reference.CASES[2]
    results = bench.Results(
        aa=aa.AASummary([], 39, 2, 2, 0, 34.0, 0.03, 0.03, 100.0),
        ab=ab.ABSummary([], 37, 0.85, 100.0),
        cp=changepoints.ChangePointSummary(50, 49, 1, 0, Counter(), 1.0),
        reference=[(case, reference.Tally(80, 100, 9, 9), reference.Tally(81, 100, 8, 8))],
        cost=[reference.CostRow(2_000, 5.5, 60.0)],
        seconds=700.0,
    )
    lines = bench.targets_block(settings, results)
    assert lines[0] == "targets"
    assert all(line.endswith("NOT MET") for line in lines[1:])
    assert f"behind on {case.name} → NOT MET" in "\n".join(lines)
    assert "2,000 runs in ≤ 5 s and ≤ 200 MB: 5.50 s, 60.0 MB → NOT MET" in "\n".join(lines)


def test_bad_cost_sizes_are_refused_with_the_option_named(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_settings(["--cost-sizes", "100,lots"])
    assert exit_info.value.code == 2
    assert "--cost-sizes: expected comma-separated whole numbers, got '100,lots'" in capsys.readouterr().err


def test_the_reference_cases_score_found_and_false_points(bench: ModuleType) -> None:
    reference = _import("_judgement_reference")
    assert reference.score([30, 61, 90], [30, 60]) == (2, 1)
    assert reference.score([40, 43], [(38, 46)]) == (1, 0)  # points on a ramp are its steps
    assert reference.score([], [12]) == (0, 0)
    for case in reference.CASES:
        series, truths = reference.draw(case, 0)
        again, _ = reference.draw(case, 0)
        assert np.array_equal(series, again)
        assert all(0 < (t if isinstance(t, int) else t[0]) < series.size for t in truths)


@pytest.mark.slow
def test_the_script_runs_end_to_end(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--aa-runs", "2", "--ab-runs", "1", "--calibration-runs", "1", "--seeds", "1"]
    argv += ["--reference-seeds", "1", "--cost-sizes", "100"]
    code = bench.main([*argv, "--duration", "1", "--rps", "50"])
    out = capsys.readouterr().out
    assert code == 0
    for heading in (
        "== A/A",
        "== Calibration",
        "== A/B",
        "== Change points",
        "== Change-point cost",
        "targets",
    ):
        assert heading in out
    assert "explor." in out  # the first A/A run has no baseline yet
