"""Keeping track of attempts (spec cycle 18): the latest result of each test, and what retrying did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sk_loadagent.models.metrics import PerfMetrics, RetryInfo
from sk_loadagent.suite.assemble import suite_metrics

_RECOVERED = {"pass", "warning"}


@dataclass
class _Attempt:
    attempt: int
    tests: list[int]
    decision: dict[str, Any]


@dataclass
class AttemptLedger:
    """Per test index: its first and latest result; per attempt: which tests ran and the decision after it."""

    first: dict[int, PerfMetrics] = field(default_factory=dict)
    latest: dict[int, PerfMetrics] = field(default_factory=dict)
    attempts: list[_Attempt] = field(default_factory=list)
    suite_fields: dict[str, Any] = field(default_factory=dict)

    def record(self, attempt: int, suite: dict[str, Any] | PerfMetrics, decision: dict[str, Any]) -> None:
        metrics = suite if isinstance(suite, PerfMetrics) else PerfMetrics.model_validate(suite)
        ran: list[int] = []
        for test in metrics.tests or [metrics]:
            index = test.test_index if test.test_index is not None else len(ran)
            self.first.setdefault(index, test)
            self.latest[index] = test
            ran.append(index)
        self.attempts.append(_Attempt(attempt, ran, decision))

    def _decided_for(self, index: int) -> dict[str, Any]:
        """The strategy, adjustments, reason and trigger of the last decision that retried the test."""
        key = str(index)
        for past in reversed(self.attempts[:-1]):
            if past.decision.get("retry") and index in past.decision.get("tests", []):
                return {
                    name: (past.decision.get(source) or {}).get(key)
                    for name, source in (
                        ("strategy", "strategy"),
                        ("adjustments", "adjustments"),
                        ("reason", "reasons"),
                        ("trigger", "triggers"),
                    )
                }
        return {}

    def merged(self, *, max_retries: int) -> dict[str, Any]:
        """The suite perf-metrics over the latest attempt of every test, with retry metadata where one ran."""
        final_decision = self.attempts[-1].decision if self.attempts else {}
        still_wanted = set(final_decision.get("tests", [])) if final_decision.get("retry") else set()
        tests: list[PerfMetrics] = []
        for index in sorted(self.latest):
            test = self.latest[index]
            attempt = test.retry_attempt or 0
            if attempt > 0:
                recovered = test.status in _RECOVERED and index not in still_wanted
                first = self.first[index]
                test = test.model_copy(
                    update={
                        "retry": RetryInfo(
                            retry_attempt=attempt,
                            original_status=_status(first),
                            original_score=first.performance_score,
                            outcome="recovered" if recovered else "escalated",
                            **self._decided_for(index),
                        )
                    }
                )
            elif index in still_wanted:
                # The decision wanted another attempt but the budget (max_retries) was spent.
                test = test.model_copy(
                    update={
                        "retry": RetryInfo(
                            retry_attempt=0,
                            original_status=_status(test),
                            reason=f"retry wanted but maxRetries is {max_retries}",
                            outcome="escalated",
                        )
                    }
                )
            tests.append(test)
        return suite_metrics(tests).to_wire()

    def history(self) -> list[dict[str, Any]]:
        return [{"retryAttempt": a.attempt, "tests": a.tests, "decision": a.decision} for a in self.attempts]


def _status(test: PerfMetrics) -> Any:
    return test.status if test.status in ("pass", "warning", "degraded", "fail") else None
