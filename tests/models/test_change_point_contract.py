"""``changePointDetails`` in perf-metrics: the wire form round-trips and a bad one is refused by field."""

from __future__ import annotations

import pytest

from sk_loadagent.errors import InputError
from sk_loadagent.models import BaselineComparison, ChangePointMark, PerfMetrics, validate_document

MARK = {
    "index": 6,
    "runIdBefore": "run-05",
    "traceIdBefore": "trace-run-05",
    "runIdAfter": "run-06",
    "traceIdAfter": "trace-run-06",
    "p95Before": 99.23,
    "p95After": 150.378,
    "relChange": "+52%",
    "magnitude": 0.3401,
    "pValue": 0.015,
}


def test_change_point_details_round_trip_beside_the_positions() -> None:
    doc = {"testType": "load", "baselineComparison": {"changePoints": [6], "changePointDetails": [MARK]}}
    metrics = validate_document(doc, PerfMetrics, "perf-metrics.json")
    comparison = metrics.baseline_comparison
    assert isinstance(comparison, BaselineComparison)
    assert comparison.change_points == [6]
    assert comparison.change_point_details == [ChangePointMark.model_validate(MARK)]
    assert metrics.to_wire()["baselineComparison"] == {"changePoints": [6], "changePointDetails": [MARK]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"index": "six"},
            "perf-metrics.json: baselineComparison.changePointDetails[0].index: expected a whole number, "
            "got 'six'",
        ),
        (
            {"pValue": None},
            "perf-metrics.json: baselineComparison.changePointDetails[0].pValue: expected a number, "
            "got nothing",
        ),
    ],
)
def test_a_bad_change_point_names_its_field(change: dict[str, object], message: str) -> None:
    doc = {"testType": "load", "baselineComparison": {"changePointDetails": [{**MARK, **change}]}}
    with pytest.raises(InputError) as info:
        validate_document(doc, PerfMetrics, "perf-metrics.json")
    assert str(info.value) == message
