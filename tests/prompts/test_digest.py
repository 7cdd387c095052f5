"""run_digest: the figures an explanation may use, taken from the suite and rounded as the summary table
prints them; absent figures are left out rather than sent as nulls."""

from __future__ import annotations

from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.prompts import run_digest


def test_the_digest_carries_each_tests_own_figures(suite: PerfMetrics) -> None:
    digest = run_digest(suite)

    assert {k: digest[k] for k in ("traceId", "moduleId", "editionId", "status", "score")} == {
        "traceId": "proj-77",
        "moduleId": "CheckoutService",
        "editionId": "vetclinic",
        "status": "degraded",
        "score": 0.61,
    }
    load, stress = digest["tests"]
    assert load == {
        "name": "checkout load",
        "type": "load",
        "endpoint": "/checkout/submit",
        "status": "degraded",
        "score": 0.61,
        "latencyMs": {"p50": 41.0, "p95": 123.46, "p99": 187.5},
        "rps": 49.9,
        "errorRatePct": 1.25,
        "baseline": {
            "p95BaselineMs": 100.4,
            "p95Delta": "+23%",
            "p95DeltaInterval": {"low": "+15%", "high": "+31%", "level": 0.95},
            "confidence": 0.987,
            "regressed": True,
        },
        "violations": ["p95 123.46 ms > limit 100 ms"],
        "reasons": ["p95 regressed +23% against the baseline"],
    }
    assert stress == {
        "name": "checkout stress",
        "type": "stress",
        "endpoint": "/checkout/submit",
        "status": "pass",
        "score": 0.9,
        "notGated": True,
        "stress": {"breakingPointRps": 180.0, "firstFailedRps": 200.0, "failureMode": "latency"},
    }


def test_a_single_test_run_without_a_baseline_is_marked_exploratory() -> None:
    single = PerfMetrics.model_validate(
        {
            "testType": "spike",
            "endpoint": "/pets",
            "status": "pass",
            "baselineComparison": {"exploratory": True},
            "spike": {
                "baselineRps": 20,
                "peakRps": 200,
                "spikeLatencyMs": 88.123,
                "recovered": True,
                "recoveryCriterion": "p95 back within 20%",
            },
            "soak": {
                "window": "1m",
                "windows": [],
                "latencySlopeMsPerMin": 0.01234,
                "degrading": False,
                "verdict": "stable",
            },
        }
    )

    (test,) = run_digest(single)["tests"]

    assert test == {
        "name": "spike /pets",
        "type": "spike",
        "endpoint": "/pets",
        "status": "pass",
        "baseline": {"exploratory": True},
        "spike": {"baselineRps": 20.0, "peakRps": 200.0, "spikeLatencyMs": 88.12, "recovered": True},
        "soak": {"latencySlopeMsPerMin": 0.012, "degrading": False, "verdict": "stable"},
    }
