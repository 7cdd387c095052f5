"""Keeping track of attempts (spec cycle 18): the latest result of each test, what retrying did, and the time
the retry phase may still spend."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sk_loadagent.models.metrics import STATUS_ORDER, PerfMetrics, RetryInfo
from sk_loadagent.suite.assemble import suite_metrics

_RECOVERED = {"pass", "warning"}
_FAILING = {"degraded", "fail"}


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

    def retried_for(self) -> dict[str, list[str]]:
        """Per test index (as a string, like the decisions' keys): the trigger kinds that retried it."""
        kinds: dict[str, list[str]] = {}
        for past in self.attempts:
            if not past.decision.get("retry"):
                continue
            for index in past.decision.get("tests", []):
                kind = (past.decision.get("kinds") or {}).get(str(index))
                if kind is not None:
                    kinds.setdefault(str(index), []).append(kind)
        return kinds

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

    def _last_decision(self, index: int) -> dict[str, Any]:
        """The decision made on the test's latest result."""
        return next((a.decision for a in reversed(self.attempts) if index in a.tests), {})

    def merged(self, *, max_retries: int) -> dict[str, Any]:
        """The suite perf-metrics over the latest attempt of every test, with retry metadata where a retry
        ran or a failing test was escalated."""
        final_decision = self.attempts[-1].decision if self.attempts else {}
        still_wanted = set(final_decision.get("tests", [])) if final_decision.get("retry") else set()
        tests: list[PerfMetrics] = []
        for index in sorted(self.latest):
            test = self.latest[index]
            first = self.first[index]
            info = None
            if (test.retry_attempt or 0) > 0:
                info = RetryInfo(
                    retry_attempt=test.retry_attempt or 0,
                    original_status=_status(first),
                    original_score=first.performance_score,
                    outcome=retry_outcome(first.status, test.status),
                    **self._decided_for(index),
                )
            elif index in still_wanted:
                # The decision wanted another attempt but the planner's budget (max_retries) was spent.
                info = RetryInfo(
                    retry_attempt=0,
                    original_status=_status(test),
                    original_score=test.performance_score,
                    trigger=(final_decision.get("triggers") or {}).get(str(index)),
                    reason=f"retry wanted but maxRetries is {max_retries}",
                    outcome="escalated" if test.status in _FAILING else "unchanged",
                )
            elif index in self._last_decision(index).get("escalated", []):
                decision = self._last_decision(index)
                info = RetryInfo(
                    retry_attempt=0,
                    original_status=_status(test),
                    original_score=test.performance_score,
                    trigger=(decision.get("triggers") or {}).get(str(index)),
                    reason=(decision.get("reasons") or {}).get(str(index)),
                    outcome="escalated",
                )
            tests.append(test.model_copy(update={"retry": info}) if info is not None else test)
        return suite_metrics(tests).to_wire()

    def history(self) -> list[dict[str, Any]]:
        return [{"retryAttempt": a.attempt, "tests": a.tests, "decision": a.decision} for a in self.attempts]


def retry_outcome(first: str | None, last: str | None) -> str:
    """ "recovered" only when the last status is better than the first and passes (pass or warning);
    "escalated" when the last still fails the gate (degraded or fail); "unchanged" otherwise."""
    if last in _FAILING:
        return "escalated"
    if last in _RECOVERED and STATUS_ORDER.get(first or "", -1) > STATUS_ORDER[last]:
        return "recovered"
    return "unchanged"


def _status(test: PerfMetrics) -> Any:
    return test.status if test.status in ("pass", "warning", "degraded", "fail") else None


@dataclass
class RetryClock:
    """The retry phase's time budget: ``budget_s`` seconds after the original attempt ends, cool-downs
    included (by default as long as the original attempt took); ``cooldown_s`` replaces the strategies'
    cool-down length (a warm start never waits)."""

    budget_s: float | None = None
    cooldown_s: float | None = None
    now: Callable[[], float] = time.monotonic
    _attempt_started: float = 0.0
    _retries_started: float | None = None

    def attempt_starts(self) -> None:
        self._attempt_started = self.now()

    def attempt_ends(self) -> None:
        if self._retries_started is None:
            self._retries_started = self.now()
            if self.budget_s is None:
                self.budget_s = self._retries_started - self._attempt_started

    def budget(self) -> dict[str, float]:
        """For the retry decision: what is left, and how long the attempt being judged has run so far."""
        elapsed = self.now() - self._attempt_started
        if self._retries_started is None:  # judging the original attempt: nothing spent yet
            left = self.budget_s if self.budget_s is not None else elapsed
        else:
            left = (self.budget_s or 0.0) - (self.now() - self._retries_started)
        return {"secondsLeft": max(0.0, left), "attemptSeconds": elapsed}

    def cooldown(self, decision: dict[str, Any]) -> float:
        """The pause before the retry the decision asks for: its cool-down (or ``cooldown_s``), shortened
        so the retry's expected time still fits what is left of the budget."""
        wanted = float(decision.get("cooldownSeconds", 0.0))
        if wanted > 0 and self.cooldown_s is not None:
            wanted = self.cooldown_s
        slack = self.budget()["secondsLeft"] - float(decision.get("expectedSeconds", 0.0))
        return max(0.0, min(wanted, slack))
