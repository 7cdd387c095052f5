"""Recovery after a fault: how long latency took to come back under its limit and stay there."""

from __future__ import annotations

from collections.abc import Sequence


def recovery_time(times: Sequence[float], p95s: Sequence[float | None], limit: float) -> float | None:
    """Seconds from the first point until p95 is at or under ``limit`` at every later point that has one;
    0 when it always was, None when the last point is still over (not recovered within the run)."""
    measured = [(t, p) for t, p in zip(times, p95s, strict=True) if p is not None]
    if not measured:
        return None
    start = measured[0][0]
    recovered_at: float | None = start
    for t, p95 in measured:
        if p95 > limit:
            recovered_at = None
        elif recovered_at is None:
            recovered_at = t
    return None if recovered_at is None else recovered_at - start
