"""performance-score.log.jsonl: steps, score breakdowns, thresholds applied and retries, one JSON per line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sk_loadagent.analysis.thresholds import VIOLATED_AS, measured
from sk_loadagent.atomic import write_atomic
from sk_loadagent.models.metrics import EffectiveLimit, PerfMetrics, Violation
from sk_loadagent.publish import paths


def _score_line(suite: PerfMetrics, test: PerfMetrics) -> dict[str, Any] | None:
    if test.score_components is None:
        return None
    components = test.score_components.to_wire()
    return {
        "event": "score",
        "traceId": suite.trace_id,
        "testIndex": test.test_index,
        "testType": test.test_type,
        "endpoint": test.endpoint,
        "retryAttempt": test.retry_attempt or 0,
        **components,
        "finalScore": test.performance_score,
        "weights": test.score_weights.to_wire() if test.score_weights else None,
        "status": test.status,
    }


@dataclass(frozen=True)
class LimitOutcome:
    """One limit that applied to a test, what was measured against it and the violation, if any."""

    limit: EffectiveLimit
    observed: float | None
    violation: Violation | None


def limit_outcomes(test: PerfMetrics) -> list[LimitOutcome]:
    """Every limit of the test with its outcome; a met limit shows what was measured too, so its margin is
    visible (the score log and the report)."""
    broken = {v.metric: v for v in test.violations or []}
    seen = measured(test)
    outcomes = []
    for limit in test.thresholds or []:
        violation = broken.get(VIOLATED_AS.get(limit.metric, limit.metric))
        observed = violation.observed if violation else seen.get(limit.metric)
        outcomes.append(LimitOutcome(limit, observed, violation))
    return outcomes


def _threshold_lines(suite: PerfMetrics, test: PerfMetrics) -> list[dict[str, Any]]:
    return [
        {
            "event": "threshold",
            "traceId": suite.trace_id,
            "testIndex": test.test_index,
            "metric": o.limit.metric,
            "limit": o.limit.limit,
            "source": o.limit.source,
            "observed": o.observed,
            "violated": o.violation is not None,
            "severity": o.violation.severity if o.violation else None,
        }
        for o in limit_outcomes(test)
    ]


def _retry_lines(suite: PerfMetrics) -> list[dict[str, Any]]:
    lines = []
    for test in suite.tests or [suite]:
        retry = test.retry
        if retry is None:
            continue
        lines.append(
            {
                "event": "retry",
                "traceId": suite.trace_id,
                "testIndex": test.test_index,
                "retryAttempt": retry.retry_attempt,
                "originalStatus": retry.original_status,
                "strategy": retry.strategy,
                "adjustments": retry.adjustments,
                "reason": retry.reason,
                "outcome": retry.outcome,
                "retryResult": {"performanceScore": test.performance_score, "status": test.status},
            }
        )
    return lines


def score_log_lines(
    suite: PerfMetrics, steps: list[dict[str, Any]], attempts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = list(steps)
    for attempt in attempts:
        decision = attempt.get("decision") or {}
        if decision:
            lines.append({"event": "retry-decision", "traceId": suite.trace_id, **attempt})
    for test in suite.tests or [suite]:
        line = _score_line(suite, test)
        if line is not None:
            lines.append(line)
        lines.extend(_threshold_lines(suite, test))
    lines.extend(_retry_lines(suite))
    return lines


def write_score_log(
    out_dir: Path, suite: PerfMetrics, steps: list[dict[str, Any]], attempts: list[dict[str, Any]]
) -> Path:
    text = "".join(
        json.dumps(line, ensure_ascii=False, default=str) + "\n"
        for line in score_log_lines(suite, steps, attempts)
    )
    return write_atomic(out_dir / paths.SCORE_LOG, text)
