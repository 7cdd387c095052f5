"""`sk-loadagent run` end to end: the sample service, a baseline run, then a slowed release the gate catches.

The service answers in 10 ms (little jitter); its slow release takes eight times as long. The suite's p95
limit of 40 ms sits between the two, so the stable release passes with room to spare (also on a busy
machine) and the slow one breaks the limit and regresses against the stored baseline by several hundred
percent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sk_loadagent.cli.main import MEMORY_ENV, main
from sk_loadagent.memory import SeriesKey, open_store
from sk_loadagent.sample_service import SampleService

PLAN = """\
traceId: proj-933-checkout
moduleId: CheckoutService
editionId: vetclinic
endpoint: /checkout/submit
method: POST
tests:
  - type: load
    name: checkout-load
    rps: 20
    rampUp: 200ms
    duration: 2s
    body: {clinicId: clinic-042, petId: pet-7781, items: [{sku: EXAM-STD, quantity: 1}], paymentMethod: card}
"""
THRESHOLDS = "module: CheckoutService\nthresholds:\n  latencyP95: 40\n  errorRateMax: 0.01\n"


@pytest.fixture
def service() -> Iterator[SampleService]:
    with SampleService(release="stable", latency_ms=10, jitter=0.1, slow_factor=8) as started:
        yield started


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_slowed_release_fails_the_gate_with_a_regression_alert(
    service: SampleService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    Path("suite.plan.yaml").write_text(PLAN)
    Path("perf-thresholds.yaml").write_text(THRESHOLDS)
    out = tmp_path / "perf"

    def run(trace_id: str) -> tuple[int, str, str]:
        code = main(
            [
                "run",
                "--plan", "suite.plan.yaml",
                "--thresholds", "perf-thresholds.yaml",
                "--target-url", service.url,
                "--memory", "memory.sqlite",
                "--out", str(out),
                "--trace-id", trace_id,
                "--workers", "1",
                "--max-retries", "0",
                "--quiet",
            ]
        )  # fmt: skip
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    # Run 1: the stable release. Nothing to compare with yet.
    code, stdout, stderr = run("e2e-stable")
    assert (code, stderr) == (0, "")
    assert "Gate: PASSED (1 of 1 counted test(s) passed the gate)" in stdout
    first = read_json(out / "perf-metrics.json")
    assert (first["traceId"], first["status"], first["performanceScore"]) == ("e2e-stable", "pass", 1.0)
    assert first["baselineComparison"]["exploratory"] is True
    assert first["latency"]["p95"] < 40
    preview = read_json(out / "studio.performance.preview.json")
    assert preview["tileSummary"].endswith("No baseline yet: exploratory run. Passed.")
    assert not (out / "regression-alert.yaml").exists()
    assert (out / "load-trace-map.yaml").is_file()
    assert (out / "metrics" / "vetclinic" / "checkoutservice.json").is_file()

    # Run 2: the same suite against the slow release, judged against the stored baseline.
    service.configure(release="slow")
    code, stdout, stderr = run("e2e-slow")
    assert (code, stderr) == (1, "")
    assert "Gate: FAILED (0 of 1 counted test(s) passed the gate; checkout-load: status fail)" in stdout
    second = read_json(out / "perf-metrics.json")
    comparison = second["baselineComparison"]
    assert (second["traceId"], second["status"], second["regression"]) == ("e2e-slow", "fail", True)
    assert (comparison["regressed"], comparison["baselineTraceId"]) == (True, "e2e-stable")
    # Memory keeps the baseline's latencies as a histogram (1 % relative error), so its p95 is that close.
    assert comparison["p95LatencyBaseline"] == pytest.approx(first["latency"]["p95"], rel=0.01)
    delta = comparison["deltaLatencyP95"]
    assert int(delta.strip("+%")) >= 300  # eight times slower: several hundred percent
    # latency 0.0 (p95 >= twice the 40 ms limit) and baseline delta 0.0 (beyond +100 %): 1 - 0.35 - 0.10
    assert second["performanceScore"] == 0.55

    alert = yaml.safe_load((out / "regression-alert.yaml").read_text())
    assert (alert["triggeredBy"], alert["traceId"], alert["status"]) == (
        "performance-regression",
        "e2e-slow",
        "fail",
    )
    assert alert["reason"].startswith(f"p95 latency increased {delta} vs. baseline; p95 ")
    assert alert["performanceScore"] == 0.55
    assert (out / "alerts" / "vetclinic" / "checkoutservice.yaml").read_text() == (
        out / "regression-alert.yaml"
    ).read_text()
    steps = [json.loads(line) for line in (out / "performance-score.log.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if s["event"] == "step" and s["outcome"] == "ok"] == [
        "TestPlanInterpreter-interpret_plan",
        "LoadRunnerExecutor-run_load_tests",
        "PerfMetricCollector-collect_metrics",
        "RegressionComparer-compare_with_baseline",
        "PerformanceScorer-score_performance",
        "ThresholdEvaluator-evaluate_thresholds",
        "PreviewPublisher-publish_preview",
        "MemoryPusher-push_to_memory",
    ]

    # Both runs are stored; the failed one did not take the baseline.
    key = SeriesKey(
        edition_id="vetclinic",
        module_id="CheckoutService",
        test_type="load",
        endpoint="/checkout/submit",
        load_profile="open 20 rps: steady; under 15 s",  # the plan's 2 s at 20 rps
    )
    with open_store(tmp_path / "memory.sqlite") as store:
        assert [(r.trace_id, r.status) for r in store.series(key)] == [
            ("e2e-stable", "pass"),
            ("e2e-slow", "fail"),
        ]
        baseline = store.baseline(key)
        assert baseline is not None
        assert baseline.trace_id == "e2e-stable"
