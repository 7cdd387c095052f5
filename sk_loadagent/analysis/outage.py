"""Whether a run failed at the connection level: an outage of the target or of the network, not a measurement
of the service's performance.

A run is an **infrastructure failure** when both hold:

- it mostly failed: at least half of its requests failed;
- its failures are mostly connection-level: at least half of them were refused connections, other connect
  errors (including connect timeouts), resets or connections closed before the response, or timeouts at
  the start of the run (before the first successful response of its measured phases; read from the
  per-second timeline, or all of them when the run never succeeded).

Such a run is still judged (it fails) and alerted, but memory keeps it out of baselines, pools, noise
estimates, change points and the count of regressions that make a baseline obsolete: an outage says nothing
about how fast the service is, and three of them must not retire a good baseline. Timeouts later in a run
are the service's slowness and count as ordinary errors.
"""

from __future__ import annotations

from sk_loadagent.models.metrics import PerfMetrics

from ._format import pct

# Outcome names (engine OUTCOME_NAMES) of failures that happen before any HTTP exchange completes.
CONNECTION_FAILURES = ("connectRefused", "connectError", "reset")
MOSTLY = 0.5


def detect_infrastructure_failure(metrics: PerfMetrics) -> str | None:
    """Why the run is an infrastructure failure (see the module docstring), or None when it is not."""
    requests = metrics.requests or 0
    errors = metrics.errors or {}
    failed = sum(errors.values())
    if requests <= 0 or failed < MOSTLY * requests:
        return None
    kinds = {name: errors.get(name, 0) for name in CONNECTION_FAILURES}
    kinds["timeout at start"] = min(errors.get("timeout", 0), _failures_before_first_success(metrics, failed))
    connection = sum(kinds.values())
    if connection < MOSTLY * failed:
        return None
    spelled = ", ".join(f"{name} {n:,}" for name, n in kinds.items() if n)
    return (
        f"infrastructure failure: {failed:,} of {requests:,} requests failed ({pct(failed / requests)}), "
        f"{connection:,} of them at the connection ({spelled}): the target or the network failed, so the run "
        "measures no performance; it never becomes a baseline nor counts toward an obsolete one"
    )


def _failures_before_first_success(metrics: PerfMetrics, failed: int) -> int:
    """The failures of the measured windows before the first one with a successful response; without a
    timeline, every failure when nothing succeeded and none otherwise."""
    measured = {p.name for p in metrics.phases or [] if p.measured}
    points = [p for p in metrics.timeline or [] if not measured or p.phase in measured]
    if not points:
        return failed if failed >= (metrics.requests or 0) else 0
    before = 0
    for point in sorted(points, key=lambda p: p.t):
        if point.rps > 0:
            break
        before += point.errors
    return before
