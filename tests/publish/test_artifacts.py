"""The artifacts of spec cycles 4, 14 and 16 under --out: which files, and what each one says."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish import write_artifacts
from sk_loadagent.suite.assemble import suite_metrics

SCOPE = {"traceId": "proj-933-checkout", "moduleId": "CheckoutService", "editionId": "vetclinic"}


def judged_test(index: int, test_type: str, **fields: Any) -> PerfMetrics:
    return PerfMetrics.model_validate(
        {
            **SCOPE,
            "testIndex": index,
            "testName": f"checkout-{test_type}",
            "testType": test_type,
            "endpoint": "/checkout/submit",
            "errorRate": 0.0,
            **fields,
        }
    )


def compared(baseline: float, current: float, delta: str, *, regressed: bool) -> dict[str, Any]:
    return {
        "p95LatencyBaseline": baseline,
        "p95Current": current,
        "deltaLatencyP95": delta,
        "regressed": regressed,
        "exploratory": False,
    }


LOAD_PASS = judged_test(
    0,
    "load",
    performanceScore=0.95,
    status="pass",
    latency={"p50": 20.8, "p95": 34.5, "p99": 42.0},
    rps=100.0,
    baselineComparison=compared(33.0, 34.5, "+5%", regressed=False),
)
SPIKE_REGRESSED = judged_test(
    1,
    "spike",
    performanceScore=0.58,
    status="degraded",
    latency={"p50": 210.0, "p95": 810.0, "p99": 1400.0},
    rps=300.0,
    errorRate=0.004,
    cpuUsagePct=92.0,
    baselineComparison=compared(600.0, 810.0, "+35%", regressed=True),
    thresholds=[
        {"metric": "latencyP95", "limit": 800.0, "source": "default"},
        {"metric": "errorRateMax", "limit": 0.001, "source": "perf-thresholds.yaml[CheckoutService]"},
        {"metric": "cpuUsageMax", "limit": 90.0, "source": "default"},
    ],
    violations=[
        {
            "metric": "latencyP95",
            "limit": 800.0,
            "observed": 810.0,
            "severity": "minor",
            "source": "default",
            "message": "p95 810 ms > 800 ms limit (+1 %) from default",
        },
        {
            "metric": "errorRate",
            "limit": 0.001,
            "observed": 0.004,
            "severity": "significant",
            "source": "perf-thresholds.yaml[CheckoutService]",
            "message": "error rate 0.4 % > 0.1 % limit (4.0×) from perf-thresholds.yaml[CheckoutService]",
        },
        {
            "metric": "cpuUsagePct",
            "limit": 90.0,
            "observed": 92.0,
            "severity": "minor",
            "source": "default",
            "message": "CPU 92 % > 90 % limit (+2 %) from default",
        },
    ],
)


@pytest.fixture
def regressed_suite() -> PerfMetrics:
    return suite_metrics([LOAD_PASS, SPIKE_REGRESSED])


@pytest.fixture
def passing_suite() -> PerfMetrics:
    return suite_metrics([LOAD_PASS])


CORE = {
    "perf-metrics.json",
    "load-trace-map.yaml",
    "studio.performance.preview.json",
    "performance-score.log.jsonl",
    "metrics/vetclinic/checkoutservice.json",
    "badges/vetclinic/checkoutservice.svg",
}
ALERTS = {"regression-alert.yaml", "alerts/vetclinic/checkoutservice.yaml"}


def files_under(out: Path) -> set[str]:
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def write(suite: PerfMetrics, out: Path) -> dict[str, Path]:
    return write_artifacts(suite, out, steps=[], attempts=[])


def test_perf_metrics_has_the_decisive_test_on_top_and_every_test_in_full(
    tmp_path: Path, regressed_suite: PerfMetrics
) -> None:
    write(regressed_suite, tmp_path)

    doc = read_json(tmp_path / "perf-metrics.json")
    # The spike test has the lowest score (0.58 < 0.95): its fields are the suite's.
    assert {k: v for k, v in doc.items() if k != "tests"} == SPIKE_REGRESSED.to_wire()
    assert doc["tests"] == [LOAD_PASS.to_wire(), SPIKE_REGRESSED.to_wire()]
    assert read_json(tmp_path / "metrics" / "vetclinic" / "checkoutservice.json") == doc


def test_load_trace_map_lists_each_test(tmp_path: Path, regressed_suite: PerfMetrics) -> None:
    write(regressed_suite, tmp_path)

    assert read_yaml(tmp_path / "load-trace-map.yaml") == {
        "traceId": "proj-933-checkout",
        "editionId": "vetclinic",
        "moduleId": "CheckoutService",
        "tests": [
            {
                "endpoint": "/checkout/submit",
                "testType": "load",
                "status": "pass",
                "latencyP95": 34.5,
                "errorRate": 0.0,
                "rps": 100.0,
                "performanceScore": 0.95,
            },
            {
                "endpoint": "/checkout/submit",
                "testType": "spike",
                "status": "degraded",
                "latencyP95": 810.0,
                "errorRate": 0.004,
                "rps": 300.0,
                "performanceScore": 0.58,
            },
        ],
    }


def test_preview_summarises_the_decisive_test_in_a_sentence(
    tmp_path: Path, regressed_suite: PerfMetrics
) -> None:
    write(regressed_suite, tmp_path)

    assert read_json(tmp_path / "studio.performance.preview.json") == {
        "traceId": "proj-933-checkout",
        "editionId": "vetclinic",
        "moduleId": "CheckoutService",
        "testType": "spike",
        "performanceScore": 0.58,
        "status": "degraded",
        "regression": True,
        "tileSummary": (
            "Spike test on /checkout/submit: p95 810 ms at 300 rps, error rate 0.4%. "
            "p95 latency ↑35% vs. baseline (810 ms vs 600 ms). "
            "Broke error rate 0.4 % > 0.1 % limit (4.0×) from perf-thresholds.yaml[CheckoutService] "
            "and 2 more limits. Performance degraded. Other tests: 1 pass."
        ),
        "retryAttempt": 0,
        "actions": ["retry-with-throttle", "compare-baseline", "annotate"],
        "tags": ["CheckoutService", "vetclinic", "spike"],
        "tileColor": "yellow",
        "badgeColor": "red",
        "exploratory": False,
        "hoverDetails": {"latencyP95": 810.0, "rps": 300.0, "errorRate": 0.004, "deltaLatencyP95": "+35%"},
        "badgeSummary": {
            "status": "degraded",
            "score": 0.58,
            "retryAttempt": 0,
            "regression": True,
            "summary": "p95 latency up 35% vs baseline, errors at 0.4%, degraded",
            "badgeColor": "red",
        },
    }


def test_preview_says_exploratory_when_memory_has_no_baseline(tmp_path: Path) -> None:
    first_run = judged_test(
        0,
        "load",
        performanceScore=1.0,
        status="pass",
        latency={"p95": 34.5},
        rps=100.0,
        baselineComparison={"exploratory": True},
    )
    write(suite_metrics([first_run]), tmp_path)

    preview = read_json(tmp_path / "studio.performance.preview.json")
    assert preview["tileSummary"] == (
        "Load test on /checkout/submit: p95 34.5 ms at 100 rps, no errors. "
        "No baseline yet: exploratory run. Passed."
    )
    assert (preview["exploratory"], preview["regression"]) == (True, False)


def test_preview_says_exploratory_when_nothing_was_compared(tmp_path: Path) -> None:
    """--no-memory or memoryCompare false: no comparison at all, and the tile says so."""
    uncompared = judged_test(0, "load", performanceScore=1.0, status="pass", latency={"p95": 34.5}, rps=100.0)
    write(suite_metrics([uncompared]), tmp_path)

    preview = read_json(tmp_path / "studio.performance.preview.json")
    assert preview["tileSummary"] == (
        "Load test on /checkout/submit: p95 34.5 ms at 100 rps, no errors. "
        "Not compared with a baseline: exploratory run. Passed."
    )
    assert preview["exploratory"] is True


def test_preview_within_baseline(tmp_path: Path, passing_suite: PerfMetrics) -> None:
    write(passing_suite, tmp_path)

    preview = read_json(tmp_path / "studio.performance.preview.json")
    assert preview["tileSummary"] == (
        "Load test on /checkout/submit: p95 34.5 ms at 100 rps, no errors. Within baseline (+5% p95). Passed."
    )
    assert (preview["exploratory"], preview["regression"], preview["actions"]) == (
        False,
        False,
        ["annotate"],
    )


def test_an_alert_is_written_for_a_regression_with_the_delta(
    tmp_path: Path, regressed_suite: PerfMetrics
) -> None:
    written = write(regressed_suite, tmp_path)

    assert files_under(tmp_path) == CORE | ALERTS
    assert set(written) == {
        "perfMetrics",
        "loadTraceMap",
        "preview",
        "scoreLog",
        "editionMetrics",
        "badge",
        "regressionAlert",
        "editionAlert",
    }
    alert = read_yaml(tmp_path / "regression-alert.yaml")
    reason = (
        "p95 latency increased +35% vs. baseline; "
        "error rate 0.4 % > 0.1 % limit (4.0×) from perf-thresholds.yaml[CheckoutService]"
    )
    assert alert == {
        "triggeredBy": "performance-regression",
        "reason": reason,
        "traceId": "proj-933-checkout",
        "editionId": "vetclinic",
        "moduleId": "CheckoutService",
        "testType": "spike",
        "status": "degraded",
        "performanceScore": 0.58,
        "retryAttempt": 0,
        "actionRequired": True,
        "suggestedActions": [
            "Compare with the baseline run and review the changes since it",
            "Inspect the failing responses (see errors in perf-metrics.json)",
            "Review service timeouts, connection reuse and slow dependencies",
            "Check the target's CPU and memory profile (possible saturation or leak)",
            "Rerun with reduced RPS to confirm",
            "Notify ResiliencyAgent",
        ],
        "escalated": False,
        "tests": [
            {"endpoint": "/checkout/submit", "testType": "spike", "status": "degraded", "reason": reason}
        ],
    }
    assert read_yaml(tmp_path / "alerts" / "vetclinic" / "checkoutservice.yaml") == alert


def test_a_failed_test_without_a_baseline_raises_a_threshold_alert(tmp_path: Path) -> None:
    failed = judged_test(
        0,
        "load",
        performanceScore=0.45,
        status="fail",
        latency={"p95": 1600.0},
        rps=100.0,
        errorRate=0.05,
        reasons=["score 0.45 is in the fail band (< 0.50)"],
    )
    write(suite_metrics([failed]), tmp_path)

    alert = read_yaml(tmp_path / "regression-alert.yaml")
    assert (alert["triggeredBy"], alert["status"], alert["reason"]) == (
        "threshold-breach",
        "fail",
        "score 0.45 is in the fail band (< 0.50)",
    )


def test_no_alert_without_a_regression_or_failure(tmp_path: Path, passing_suite: PerfMetrics) -> None:
    written = write(passing_suite, tmp_path)

    assert files_under(tmp_path) == CORE
    assert "regressionAlert" not in written


def test_a_stale_alert_from_an_earlier_run_is_removed(tmp_path: Path, regressed_suite: PerfMetrics) -> None:
    write(regressed_suite, tmp_path)
    assert files_under(tmp_path) >= ALERTS

    write(suite_metrics([LOAD_PASS]), tmp_path)

    assert files_under(tmp_path) == CORE
    assert read_json(tmp_path / "perf-metrics.json")["status"] == "pass"


def test_a_test_kept_out_of_the_gate_raises_no_alert(tmp_path: Path) -> None:
    excluded = SPIKE_REGRESSED.model_copy(update={"excluded_from_gate": True})
    write(suite_metrics([LOAD_PASS, excluded]), tmp_path)

    assert files_under(tmp_path) == CORE
    # The counted test decides the top level, not the excluded one with the lower score.
    assert read_json(tmp_path / "perf-metrics.json")["testType"] == "load"


def test_per_edition_copies_get_path_safe_names(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hostile = SPIKE_REGRESSED.model_copy(
        update={"edition_id": "VetClinic Premium/EU", "module_id": "../Checkout Service"}
    )
    written = write(suite_metrics([hostile]), out)

    assert written["editionMetrics"] == out / "metrics" / "vetclinic-premium-eu" / "checkout-service.json"
    assert written["editionAlert"] == out / "alerts" / "vetclinic-premium-eu" / "checkout-service.yaml"
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing escaped --out
    # The ids themselves are written unchanged.
    assert read_json(written["editionMetrics"])["moduleId"] == "../Checkout Service"


def test_missing_ids_fall_back_to_default_names(tmp_path: Path) -> None:
    anonymous = LOAD_PASS.model_copy(update={"edition_id": None, "module_id": None})
    written = write(suite_metrics([anonymous]), tmp_path)

    assert written["editionMetrics"] == tmp_path / "metrics" / "default" / "module.json"


def test_score_log_shows_each_limit_with_what_was_measured(tmp_path: Path) -> None:
    """A limit the run met shows its observed value too; errorRateMax is broken by errorRate."""
    wire = SPIKE_REGRESSED.to_wire()
    wire["thresholds"].append({"metric": "rpsMin", "limit": 250.0, "source": "target-rate"})
    scored = PerfMetrics.model_validate(wire)
    write(suite_metrics([scored]), tmp_path)

    lines = [json.loads(line) for line in (tmp_path / "performance-score.log.jsonl").read_text().splitlines()]
    assert [(t["metric"], t["observed"], t["violated"], t["severity"]) for t in lines] == [
        ("latencyP95", 810.0, True, "minor"),
        ("errorRateMax", 0.004, True, "significant"),
        ("cpuUsageMax", 92.0, True, "minor"),
        ("rpsMin", 300.0, False, None),
    ]


def test_files_are_readable_like_any_other_file(tmp_path: Path, passing_suite: PerfMetrics) -> None:
    """Not the 0600 of a temp file: CI uploads and Studio read the artifacts as other users."""
    previous = os.umask(0o022)
    try:
        written = write(passing_suite, tmp_path)
    finally:
        os.umask(previous)

    assert {oct(p.stat().st_mode & 0o777) for p in written.values()} == {"0o644"}
