"""Judged suites with everything a report draws: timelines, phases, histograms, limits, comparisons, retries,
and a 30-minute soak. Figures are made up but shaped like a real run's perf-metrics.json."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish.report import SeriesHistory, StoredRun
from sk_loadagent.suite.assemble import suite_metrics

SCOPE = {"traceId": "proj-955-checkout", "moduleId": "CheckoutService", "editionId": "vetclinic"}
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def histogram(median_ms: float, n: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return LatencyHistogram.from_values(rng.lognormal(math.log(median_ms / 1000), 0.35, n)).to_sparse()


def timeline(seconds: int, p95: float, rps: float, *, errors_from: int | None = None) -> list[dict[str, Any]]:
    points = []
    for t in range(seconds):
        wave = 1 + 0.1 * math.sin(t / 7)
        points.append(
            {
                "t": float(t),
                "rps": rps,
                "p50": round(p95 * 0.45 * wave, 3),
                "p95": round(p95 * wave, 3),
                "p99": round(p95 * 1.3 * wave, 3),
                "errors": 2 if errors_from is not None and t >= errors_from else 0,
                "inFlight": int(rps * p95 / 1000) + 1,
                "phase": "steady",
            }
        )
    return points


def comparison(baseline: float, current: float, *, regressed: bool) -> dict[str, Any]:
    delta = f"{current / baseline - 1:+.0%}"
    low, high = f"{current / baseline * 0.9 - 1:+.0%}", f"{current / baseline * 1.1 - 1:+.0%}"
    return {
        "p95LatencyBaseline": baseline,
        "p95Current": current,
        "deltaLatencyP95": delta,
        "deltaLatencyP95Interval": {"low": low, "high": high},
        "regressed": regressed,
        "confidence": 1.0 if regressed else 0.97,
        "exploratory": False,
        "baselineTraceId": "proj-950-checkout",
        "baselineRunId": "run-00",
        "baselineScore": 0.97,
        "baselineStatus": "pass",
        "metrics": {
            "p95": {
                "baseline": baseline,
                "current": current,
                "delta": delta,
                "interval": {"low": low, "high": high},
                "regressed": regressed,
                "confidence": 1.0,
            },
            "rps": {"baseline": 100.0, "current": 100.0, "delta": "+0%", "regressed": False},
        },
        "changePoints": [6],
        "changePointDetails": [
            {
                "index": 6,
                "runIdBefore": "run-05",
                "runIdAfter": "run-06",
                "p95Before": 33.0,
                "p95After": 41.0,
                "relChange": "+24%",
                "magnitude": 0.2,
                "pValue": 0.01,
            }
        ],
    }


def load_pass() -> PerfMetrics:
    return PerfMetrics.model_validate(
        {
            **SCOPE,
            "testIndex": 0,
            "testName": "checkout-load",
            "testType": "load",
            "endpoint": "/checkout/submit",
            "performanceScore": 0.97,
            "status": "pass",
            "latency": {"p50": 16.0, "p95": 34.5, "p99": 42.0},
            "rps": 100.0,
            "targetRps": 100.0,
            "errorRate": 0.0,
            "requests": 6000,
            "testDuration": "60s",
            "testStartTime": START.isoformat(),
            "phases": [{"name": "steady", "start": 0.0, "end": 60.0, "measured": True, "targetRps": 100.0}],
            "timeline": timeline(60, 34.5, 100.0),
            "latencyHistogram": histogram(16.0, 6000, 1),
            "thresholds": [
                {"metric": "latencyP95", "limit": 60.0, "source": "perf-thresholds.yaml[CheckoutService]"},
                {"metric": "errorRateMax", "limit": 0.01, "source": "default"},
            ],
            "scoreComponents": {
                "latencyScore": 1.0,
                "throughputScore": 1.0,
                "errorRateScore": 1.0,
                "resourceUtilizationScore": 1.0,
                "baselineDeltaScore": 0.7,
            },
            "scoreWeights": {},
            "baselineComparison": comparison(33.0, 34.5, regressed=False),
            "reasons": ["score 0.97 is in the pass band (≥ 0.90)", "all thresholds met"],
            "regression": False,
        }
    )


def spike_regressed() -> PerfMetrics:
    return PerfMetrics.model_validate(
        {
            **SCOPE,
            "testIndex": 1,
            "testName": "checkout-spike",
            "testType": "spike",
            "endpoint": "/checkout/submit",
            "performanceScore": 0.62,
            "status": "degraded",
            "latency": {"p50": 210.0, "p95": 810.0, "p99": 1400.0},
            "rps": 280.0,
            "failedRps": 1.0,
            "errorRate": 0.021,
            "errors": {"http5xx": 40, "timeout": 12},
            "requests": 2500,
            "testDuration": "30s",
            "testStartTime": (START + timedelta(minutes=2)).isoformat(),
            "phases": [
                {"name": "baseline", "start": 0.0, "end": 10.0, "measured": False, "targetRps": 30.0},
                {"name": "spike", "start": 10.0, "end": 20.0, "measured": True, "targetRps": 300.0},
                {"name": "recovery", "start": 20.0, "end": 30.0, "measured": True, "targetRps": 30.0},
            ],
            "timeline": timeline(30, 810.0, 280.0, errors_from=12),
            "latencyHistogram": histogram(210.0, 2500, 2),
            "spike": {
                "baselineRps": 30.0,
                "peakRps": 300.0,
                "baselineLatencyMs": 120.0,
                "spikeLatencyMs": 810.0,
                "recoveryTimeMs": 4000.0,
                "recovered": True,
                "recoveryCriterion": "p95 within 1.2 × baseline",
            },
            "thresholds": [
                {"metric": "latencyP95", "limit": 800.0, "source": "perf-thresholds.yaml[CheckoutService]"},
                {"metric": "errorRateMax", "limit": 0.05, "source": "perf-thresholds.yaml[CheckoutService]"},
            ],
            "violations": [
                {
                    "metric": "latencyP95",
                    "limit": 800.0,
                    "observed": 810.0,
                    "severity": "minor",
                    "source": "perf-thresholds.yaml[CheckoutService]",
                    "message": "p95 810 ms > 800 ms limit (+1 %) from perf-thresholds.yaml[CheckoutService]",
                }
            ],
            "scoreComponents": {
                "latencyScore": 0.99,
                "throughputScore": 0.6,
                "errorRateScore": 0.2,
                "resourceUtilizationScore": 1.0,
                "baselineDeltaScore": 0.0,
            },
            "scoreWeights": {},
            "baselineComparison": comparison(600.0, 810.0, regressed=True),
            "reasons": [
                "score 0.62 is in the degraded band (0.50–0.74)",
                "1 threshold violation (minor): p95 810 ms > 800 ms limit (+1 %)",
                "p95 regressed +35% [+22%, +49%] vs the baseline (confidence 1.00): at least degraded",
            ],
            "regression": True,
            "retryAttempt": 1,
            "retry": {
                "retryAttempt": 1,
                "originalStatus": "fail",
                "originalScore": 0.48,
                "strategy": "throttled",
                "outcome": "escalated",
            },
        }
    )


def regressed_suite() -> PerfMetrics:
    return suite_metrics([load_pass(), spike_regressed()])


def series(test: PerfMetrics, runs: int = 12) -> SeriesHistory:
    """A stored series whose p95 steps up at run 6, the last run being ``test`` itself."""
    stored = [
        StoredRun(
            run_id=f"run-{i:02d}",
            trace_id=f"proj-{940 + i}-checkout",
            created_at=START - timedelta(days=runs - i),
            status="pass",
            score=0.97 if i < 6 else 0.9,
            p95=33.0 if i < 6 else 41.0,
            is_baseline=i == 0,
            edition_id="vetclinic",
            endpoint=test.endpoint,
            test_type=test.test_type,
            retry_attempt=1 if i == 8 else 0,
            retry_outcome="recovered" if i == 8 else None,
        )
        for i in range(runs - 1)
    ]
    last = StoredRun(
        run_id="run-now",
        trace_id=test.trace_id,
        created_at=START,
        status=test.status,
        score=test.performance_score,
        p95=test.latency.p95 if test.latency else None,
        edition_id=test.edition_id,
        endpoint=test.endpoint,
        test_type=test.test_type,
    )
    return SeriesHistory([*stored, last])


def soak_30_minutes() -> PerfMetrics:
    """A 30-minute soak: 1,800 one-second timeline points, ten windows, 180,000 requests."""
    seconds = 1800
    windows = [
        {
            "start": w * 180.0,
            "end": (w + 1) * 180.0,
            "p95": 40.0 + w,
            "rps": 100.0,
            "errorRate": 0.0,
            "memoryMb": 120.0 + 2 * w,
        }
        for w in range(10)
    ]
    return PerfMetrics.model_validate(
        {
            **SCOPE,
            "testIndex": 0,
            "testName": "checkout-soak",
            "testType": "soak",
            "endpoint": "/checkout/submit",
            "performanceScore": 0.93,
            "status": "pass",
            "latency": {"p50": 18.0, "p95": 44.0, "p99": 60.0},
            "rps": 100.0,
            "errorRate": 0.0,
            "requests": 180_000,
            "testDuration": "30m",
            "phases": [{"name": "steady", "start": 0.0, "end": 1800.0, "measured": True, "targetRps": 100.0}],
            "timeline": timeline(seconds, 44.0, 100.0),
            "latencyHistogram": histogram(18.0, 180_000, 3),
            "soak": {
                "window": "3m",
                "windows": windows,
                "latencySlopeMsPerMin": 0.33,
                "latencySlopePValue": 0.2,
                "memorySlopeMbPerMin": 0.66,
                "memorySlopePValue": 0.3,
                "degrading": False,
                "verdict": "stable",
            },
            "reasons": ["score 0.93 is in the pass band (≥ 0.90)", "all thresholds met", "soak stable"],
        }
    )
