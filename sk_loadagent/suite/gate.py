"""The CI gate over a suite's tests."""

from __future__ import annotations

from sk_loadagent.analysis import GateResult, gate
from sk_loadagent.analysis.verdict import gate_problems
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish.ci import GatedTest

GateDecision = GateResult


def decide_gate(suite: PerfMetrics, *, min_score: float | None, fail_on_degraded: bool) -> GateDecision:
    """fail always fails; degraded fails with fail_on_degraded; a score below min_score fails; excluded
    tests (excludeFromGate) do not count."""
    return gate(suite.tests or [suite], min_score=min_score, fail_on_degraded=fail_on_degraded)


def gated_tests(suite: PerfMetrics, *, min_score: float | None, fail_on_degraded: bool) -> list[GatedTest]:
    """Each test with the reasons the gate fails it (none: it passes or is not gated)."""
    return [
        GatedTest(t, gate_problems(t, min_score=min_score, fail_on_degraded=fail_on_degraded))
        for t in suite.tests or [suite]
    ]
