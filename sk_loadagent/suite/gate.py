"""The CI gate over a suite's tests."""

from __future__ import annotations

from sk_loadagent.analysis import GateResult, gate
from sk_loadagent.models.metrics import PerfMetrics

GateDecision = GateResult


def decide_gate(suite: PerfMetrics, *, min_score: float | None, fail_on_degraded: bool) -> GateDecision:
    """fail always fails; degraded fails with fail_on_degraded; a score below min_score fails; excluded
    tests (excludeFromGate) do not count."""
    return gate(suite.tests or [suite], min_score=min_score, fail_on_degraded=fail_on_degraded)
