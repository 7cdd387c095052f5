"""What a Studio tile shows beside the status (spec cycles 9, 11, 15 and 19): its colours, the score change
against the baseline, the hover details and the badge summary view. Pure: perf-metrics in, fields out.

Colours follow the spec where it speaks: a tile is green on pass, yellow on warning *and* degraded, red on
fail (cycle 11: "turns red (fail) or yellow (degraded)"); a badge is green at ≥ 0.90, yellow at 0.75–0.89
and red below 0.75 (cycle 9's build badge; cycle 19's example colours a degraded 0.62 red). The badge is
read from the status, which already holds the score's band (``classify`` rule 1) and can only be worse,
so a high score that regressed is not shown green.
"""

from __future__ import annotations

from sk_loadagent.analysis.verdict import written_score
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.preview import BadgeSummary, TileColor

_TILE: dict[str, TileColor] = {"pass": "green", "warning": "yellow", "degraded": "yellow", "fail": "red"}
_BADGE: dict[str, TileColor] = {"pass": "green", "warning": "yellow", "degraded": "red", "fail": "red"}
# Statuses other agents write (needs-review, needs-optimization) ask for a look: yellow on both.
_OTHER: TileColor = "yellow"


def tile_color(status: str | None) -> TileColor | None:
    return None if status is None else _TILE.get(status, _OTHER)


def badge_color(status: str | None) -> TileColor | None:
    return None if status is None else _BADGE.get(status, _OTHER)


def score_delta_vs_baseline(test: PerfMetrics) -> float | None:
    """The written score minus the baseline's (two decimals), or None without a baseline."""
    comparison = test.baseline_comparison
    if (
        comparison is None
        or comparison.exploratory
        or comparison.baseline_score is None
        or test.performance_score is None
    ):
        return None
    return round(written_score(test.performance_score) - written_score(comparison.baseline_score), 2)


def hover_details(test: PerfMetrics) -> dict[str, float | str] | None:
    """The score breakdown (each component and its weight) and the metric deltas against the baseline."""
    details: dict[str, float | str] = {}
    if test.score_components is not None:
        details.update(test.score_components.to_wire())
    if test.score_weights is not None:
        details.update({f"{name}Weight": value for name, value in test.score_weights.to_wire().items()})
    if test.latency is not None and test.latency.p95 is not None:
        details["latencyP95"] = round(test.latency.p95, 3)
    if test.rps is not None:
        details["rps"] = round(test.rps, 3)
    if test.error_rate is not None:
        details["errorRate"] = round(test.error_rate, 6)
    comparison = test.baseline_comparison
    if comparison is not None and not comparison.exploratory:
        if comparison.delta_latency_p95 is not None:
            details["deltaLatencyP95"] = comparison.delta_latency_p95
        # The other metrics' changes (p95's is deltaLatencyP95, as the spec spells it).
        for name, metric in (comparison.metrics or {}).items():
            if metric.delta is not None and name != "p95":
                details[f"delta{name[0].upper()}{name[1:]}"] = metric.delta
    return details or None


def _direction(delta: str) -> str:
    return ("down " + delta[1:]) if delta.startswith("-") else ("up " + delta.lstrip("+"))


def badge_sentence(test: PerfMetrics) -> str:
    """Cycle 19's badge summary: "p95 latency up 32%, errors at 2.1%, degraded from previous score 0.84"."""
    parts: list[str] = []
    comparison = test.baseline_comparison
    if comparison is not None and not comparison.exploratory and comparison.delta_latency_p95:
        parts.append(f"p95 latency {_direction(comparison.delta_latency_p95)} vs baseline")
    elif comparison is None or comparison.exploratory:
        parts.append("no baseline yet")
    if test.error_rate is not None:
        parts.append("no errors" if test.error_rate == 0 else f"errors at {test.error_rate * 100:.1f}%")
    previous = _previous_score(test)
    status = test.status or "unknown"
    parts.append(f"{status} from previous score {previous:.2f}" if previous is not None else status)
    return ", ".join(parts)


def _previous_score(test: PerfMetrics) -> float | None:
    """The score this run is read against: before its retry, else the previous stored run's, else the
    baseline's."""
    if test.retry is not None and test.retry.original_score is not None:
        return test.retry.original_score
    comparison = test.baseline_comparison
    if comparison is None:
        return None
    return comparison.previous_score if comparison.previous_score is not None else comparison.baseline_score


def badge_summary(test: PerfMetrics, *, regression: bool) -> BadgeSummary | None:
    """The badge summary view of the decisive test (``test``) of a suite."""
    if test.status is None:
        return None
    return BadgeSummary(
        status=test.status,
        score=test.performance_score,
        retry_attempt=test.retry_attempt or 0,
        regression=regression,
        summary=badge_sentence(test),
        badge_color=badge_color(test.status),
    )
