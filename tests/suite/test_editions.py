"""Runs apply the edition (spec cycle 14) and Studio's ``run:``: the traffic model scales rates and
durations, the edition's test types leave tests out, a requested type is added; each change is a note."""

from __future__ import annotations

from typing import Any

import pytest

from sk_loadagent.errors import InputError
from sk_loadagent.models.annotation import StudioAnnotations
from sk_loadagent.models.edition import EditionConfig
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.suite.execution_plan import ExecutionPlan, interpret
from sk_loadagent.suite.inputs import SuiteInputs

PLAN: dict[str, Any] = {
    "moduleId": "CheckoutService",
    "editionId": "lite",
    "baseUrl": "http://127.0.0.1:9",
    "endpoint": "/checkout/submit",
    "method": "POST",
    "tests": [
        {"type": "load", "name": "steady", "rps": 100, "rampUp": "10s", "duration": "1m", "body": {"a": 1}},
        {"type": "spike", "name": "burst", "rps": 300, "baselineRps": 50, "duration": "30s"},
        {"type": "concurrency", "name": "sessions", "vus": 8, "duration": "20s"},
    ],
}
LITE = {
    "editionId": "lite",
    "testTypes": ["load", "concurrency"],
    "trafficModel": {"rpsScale": 0.5, "durationScale": 0.25},
}


def planned(
    plan: dict[str, Any] = PLAN,
    editions: list[dict[str, Any]] | None = None,
    annotations: list[dict[str, Any]] | None = None,
) -> ExecutionPlan:
    inputs = SuiteInputs(
        plan=TestSuitePlan.model_validate(plan),
        editions=EditionConfig.model_validate({"editions": editions}) if editions else None,
        annotations=StudioAnnotations.model_validate({"annotations": annotations}) if annotations else None,
    )
    return interpret(inputs)


def test_without_an_edition_config_the_plan_runs_as_written() -> None:
    plan = planned()

    assert [t.index for t in plan.tests] == [0, 1, 2]
    assert plan.notes == []
    assert plan.tests[0].profile.startswith("open model: ramp 0→100 rps over 10s, hold 100 rps for 1m")


def test_the_traffic_model_scales_rates_not_sessions_and_the_test_types_leave_one_out() -> None:
    plan = planned(editions=[LITE])

    assert [(t.index, t.label) for t in plan.tests] == [(0, "steady"), (2, "sessions")]
    assert plan.tests[0].profile.startswith("open model: ramp 0→50 rps over 2500ms, hold 50 rps for 15s")
    assert plan.tests[1].test.vus == 8
    assert plan.tests[1].test.duration == 5.0
    assert plan.notes == [
        "tests[1] burst: left out (edition lite runs only load, concurrency)",
        "edition lite trafficModel: rates x0.5, durations x0.25",
    ]


def test_an_edition_that_runs_none_of_the_plans_tests_is_bad_input() -> None:
    with pytest.raises(InputError) as caught:
        planned({**PLAN, "tests": PLAN["tests"][1:2]}, editions=[LITE])

    assert str(caught.value) == (
        "test-suite.plan.yaml: tests: expected at least one test of a type edition lite runs "
        "(load, concurrency), got spike"
    )


def test_studio_run_adds_a_soak_shaped_from_the_plans_steady_rate() -> None:
    studio = [{"moduleId": "CheckoutService", "run": ["soak", "load"], "reason": "leak hunt"}]

    plan = planned(editions=[{"editionId": "lite"}], annotations=studio)

    added = plan.tests[-1]
    assert (added.index, added.label, added.test_type, added.method, added.endpoint) == (
        3,
        "studio-soak",
        "soak",
        "POST",
        "/checkout/submit",
    )
    assert (added.test.rps, added.test.duration, added.test.body) == (100.0, 1800.0, {"a": 1})
    # load is in the plan already: Studio's run adds nothing for it.
    assert [t.test_type for t in plan.tests] == ["load", "spike", "concurrency", "soak"]
    assert plan.notes == ["Studio asks for a soak test (run: [soak]): added studio-soak"]


def test_a_studio_soak_follows_the_executionwindow_and_the_edition_scales_it() -> None:
    studio = [{"editionId": "lite", "run": ["soak"]}]
    lite = {**LITE, "testTypes": ["load", "soak"]}

    plan = planned({**PLAN, "executionWindow": "2h"}, editions=[lite], annotations=studio)

    soak = plan.tests[-1]
    assert soak.test.duration is None
    assert plan.execution_window == 1800.0
    assert soak.profile.startswith("open model: ramp 0→50 rps over 30s, hold 50 rps for 1770s")
