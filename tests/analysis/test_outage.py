"""detect_infrastructure_failure: an outage of the target or the network, told apart from a slow or erroring
service."""

from __future__ import annotations

import pytest

from sk_loadagent.analysis import detect_infrastructure_failure
from sk_loadagent.models.metrics import PerfMetrics, PhaseSummary, TimelinePoint


def _run(errors: dict[str, int], *, requests: int = 1000, timeline: list[TimelinePoint] | None = None):
    return PerfMetrics(requests=requests, errors=errors, timeline=timeline)


def test_a_run_whose_every_connection_was_reset_is_an_infrastructure_failure() -> None:
    found = detect_infrastructure_failure(_run({"reset": 1000}))
    assert found == (
        "infrastructure failure: 1,000 of 1,000 requests failed (100 %), 1,000 of them at the connection "
        "(reset 1,000): the target or the network failed, so the run measures no performance; it never "
        "becomes a baseline nor counts toward an obsolete one"
    )


@pytest.mark.parametrize(
    ("errors", "why"),
    [
        ({"connectRefused": 400, "connectError": 200}, "60 % refused or unreachable"),
        ({"reset": 300, "http5xx": 250}, "55 % failed, most of them at the connection"),
    ],
)
def test_mostly_connection_level_failures_are_an_infrastructure_failure(
    errors: dict[str, int], why: str
) -> None:
    assert detect_infrastructure_failure(_run(errors)) is not None, why


@pytest.mark.parametrize(
    ("errors", "why"),
    [
        ({"http5xx": 1000}, "a service answering 503 to everything is a service failure"),
        ({"http4xx": 1000}, "so is one answering 404"),
        ({"reset": 400}, "40 % failed: the run did not mostly fail"),
        ({"reset": 240, "http5xx": 260}, "half failed, but most of the failures are answers"),
        ({"timeout": 900}, "timeouts after successful responses are the service's slowness"),
        ({}, "no failure"),
    ],
)
def test_other_runs_are_not_infrastructure_failures(errors: dict[str, int], why: str) -> None:
    ok = 1000 - sum(errors.values())
    # One window with successes first: nothing failed before the service answered.
    timeline = [TimelinePoint(t=0, rps=float(ok)), TimelinePoint(t=1, rps=0.0, errors=sum(errors.values()))]
    assert detect_infrastructure_failure(_run(errors, timeline=timeline)) is None, why
    assert detect_infrastructure_failure(PerfMetrics(requests=0, errors={"reset": 0})) is None


def test_timeouts_count_as_connection_level_only_before_the_first_successful_response() -> None:
    phases = [
        PhaseSummary(name="ramp-up", start=0, end=1, measured=False),
        PhaseSummary(name="steady", start=1, end=5, measured=True),
    ]
    timeline = [
        TimelinePoint(t=0, rps=10.0, phase="ramp-up"),  # unmeasured: does not count as an answer
        TimelinePoint(t=1, rps=0.0, errors=300, phase="steady"),
        TimelinePoint(t=2, rps=0.0, errors=300, phase="steady"),
        TimelinePoint(t=3, rps=100.0, errors=0, phase="steady"),
        TimelinePoint(t=4, rps=0.0, errors=100, phase="steady"),
    ]
    hung_at_start = PerfMetrics(requests=1000, errors={"timeout": 700}, phases=phases, timeline=timeline)
    found = detect_infrastructure_failure(hung_at_start)
    assert found is not None
    assert "600 of them at the connection (timeout at start 600)" in found

    # Without a timeline, timeouts count only when nothing succeeded at all.
    assert detect_infrastructure_failure(_run({"timeout": 1000})) is not None
    assert detect_infrastructure_failure(_run({"timeout": 900})) is None
