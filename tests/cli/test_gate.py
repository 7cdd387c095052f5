"""The CI gate of `sk-loadagent run`: --min-score and --fail-on-degraded decide exit 0 or 1.

Each run sends 20 rps for half a second to the sample service. The thresholds pin the verdict: a p95 limit
of 0.01 ms makes the latency component 0.0, so the score is exactly 1 - 0.35 = 0.65 (degraded band) with
one significant violation (degraded); a generous limit makes every component 1.0 (pass).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sk_loadagent.sample_service import SampleService

Cli = Callable[..., Any]
DEGRADED = "thresholds:\n  latencyP95: 0.01\n  rpsMin: 1\n"
PASSING = "thresholds:\n  latencyP95: 5000\n  rpsMin: 1\n"


@pytest.fixture
def gate_run(cli: Cli, write_plan: Callable[..., Path], service: SampleService, tmp_path: Path) -> Cli:
    plan = write_plan(service.url)

    def run(thresholds: str, *gate: str) -> Any:
        limits = tmp_path / "perf-thresholds.yaml"
        limits.write_text(thresholds)
        common = ("--no-memory", "--quiet", "--workers", "0", "--max-retries", "0", "--out", "out")
        return cli("run", "--plan", str(plan), "--thresholds", str(limits), *common, *gate)

    return run


def gate_line(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("Gate: ")]
    return line


def test_a_degraded_run_fails_the_gate_by_default(gate_run: Cli) -> None:
    result = gate_run(DEGRADED)

    assert (result.code, result.err) == (1, "")
    assert gate_line(result.out) == (
        "Gate: FAILED (0 of 1 counted test(s) passed the gate; tiny: status degraded (failOnDegraded))"
    )
    metrics = json.loads(Path("out/perf-metrics.json").read_text())
    assert (metrics["status"], metrics["performanceScore"], metrics["scoreStatus"]) == (
        "degraded",
        0.65,
        "degraded",
    )


def test_no_fail_on_degraded_lets_it_through(gate_run: Cli) -> None:
    result = gate_run(DEGRADED, "--no-fail-on-degraded")

    assert result.code == 0
    assert gate_line(result.out) == "Gate: PASSED (1 of 1 counted test(s) passed the gate)"


@pytest.mark.parametrize(
    ("min_score", "code", "gate"),
    [
        (
            "0.7",
            1,
            "Gate: FAILED (0 of 1 counted test(s) passed the gate; tiny: score 0.65 < min score 0.70)",
        ),
        ("0.65", 0, "Gate: PASSED (1 of 1 counted test(s) passed the gate)"),
    ],
)
def test_min_score_gates_on_the_written_score(gate_run: Cli, min_score: str, code: int, gate: str) -> None:
    result = gate_run(DEGRADED, "--no-fail-on-degraded", "--min-score", min_score)

    assert (result.code, gate_line(result.out)) == (code, gate)


def test_a_passing_run_passes_even_a_perfect_min_score(gate_run: Cli) -> None:
    result = gate_run(PASSING, "--min-score", "1", "--fail-on-degraded")

    assert (result.code, result.err) == (0, "")
    assert gate_line(result.out) == "Gate: PASSED (1 of 1 counted test(s) passed the gate)"
    assert "Summary: Load test on /checkout/submit: p95 " in result.out
    assert "Not compared with a baseline: exploratory run. Passed." in result.out


@pytest.mark.parametrize(
    ("knobs", "endpoint", "errors"),
    [
        ({"error_rate": 1.0}, "/checkout/submit", "http5xx"),  # the service answers 500 to everything
        ({}, "/no-such-page", "http4xx"),  # every request is answered 404
    ],
)
def test_a_test_in_which_every_request_fails_fails_the_gate_even_with_no_fail_on_degraded(
    cli: Cli, write_plan: Callable[..., Path], knobs: dict[str, Any], endpoint: str, errors: str
) -> None:
    test = f"type: load\n    rps: 20\n    duration: 500ms\n    endpoint: {endpoint}"
    common = ("--no-memory", "--quiet", "--workers", "0", "--max-retries", "0", "--out", "out")
    with SampleService(release="stable", latency_ms=5, jitter=0.1, **knobs) as failing:
        result = cli(
            "run", "--plan", str(write_plan(failing.url, test=test)), *common, "--no-fail-on-degraded"
        )

    assert (result.code, result.err) == (1, "")
    assert gate_line(result.out) == "Gate: FAILED (0 of 1 counted test(s) passed the gate; tiny: status fail)"
    metrics = json.loads(Path("out/perf-metrics.json").read_text())
    assert (metrics["status"], metrics["rps"], metrics["errorRate"]) == ("fail", 0.0, 1.0)
    assert metrics["failedRps"] == pytest.approx(metrics["requests"] / 0.5)
    assert set(metrics["errors"]) == {errors}
    assert "no request succeeded (error rate 100 %): fail" in metrics["reasons"]
