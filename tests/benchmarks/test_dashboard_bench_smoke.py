"""The dashboard benchmark end to end on a small store: it fills, serves and times every page."""

from __future__ import annotations

import pytest
from bench_scripts import import_bench_module


def test_a_small_pass_times_every_page(capsys: pytest.CaptureFixture[str]) -> None:
    bench = import_bench_module("dashboard_bench")

    results = bench.main(["--runs", "16", "--modules", "1", "--repeat", "1"])

    printed = capsys.readouterr().out
    assert "stored 16 runs in 8 series" in printed
    assert set(results) == {
        "front page",
        "front page, one module and edition",
        "front page JSON",
        "series page (2 runs, latest 2 drawn)",
        "latest run's report",
        "oldest run's report",
    }
    assert "(target < 200 ms) →" in printed
