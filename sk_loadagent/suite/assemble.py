"""The suite-level perf-metrics.json: the decisive test's fields on top, every test under ``tests``."""

from __future__ import annotations

from sk_loadagent.models.metrics import STATUS_ORDER, PerfMetrics


def decisive_test(tests: list[PerfMetrics]) -> PerfMetrics:
    """The test with the lowest score; ties go to the worse status, then to the earlier test."""

    def key(item: tuple[int, PerfMetrics]) -> tuple[float, int, int]:
        position, test = item
        score = test.performance_score if test.performance_score is not None else 1.0
        return (score, -STATUS_ORDER.get(test.status or "pass", 0), position)

    return min(enumerate(tests), key=key)[1]


def gate_tests(tests: list[PerfMetrics]) -> list[PerfMetrics]:
    """Tests that count for the suite's verdict: excluded ones only decide when nothing else is left."""
    counted = [t for t in tests if not t.excluded_from_gate]
    return counted or tests


def scored_tests(tests: list[PerfMetrics]) -> list[PerfMetrics]:
    """Tests that may be the suite's decisive test: not excluded from the gate nor, by a Studio
    ``excludeFromScore``, from the score; the excluded ones only decide when nothing else is left."""
    counted = gate_tests(tests)
    return [t for t in counted if not t.excluded_from_score] or counted


def suite_metrics(tests: list[PerfMetrics]) -> PerfMetrics:
    if not tests:
        raise ValueError("a suite needs at least one test")
    top = decisive_test(scored_tests(tests))
    fields = top.model_dump(exclude={"tests"})
    return PerfMetrics.model_validate({**fields, "tests": [t.model_dump() for t in tests]})
