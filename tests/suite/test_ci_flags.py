"""The CI gating flags of spec cycle 9 as the suite carries them: --retry-on-flakiness is the pipeline's
retryOnFail for every test that does not set its own; --warn-on-regression reaches classify through the
plan."""

from __future__ import annotations

from typing import Any

from perf_builders import judged_test

from sk_loadagent.models.metrics import BaselineComparison
from sk_loadagent.suite.execution_plan import interpret
from sk_loadagent.suite.inputs import load_inputs
from sk_loadagent.suite.judge import evaluate

PLAN: dict[str, Any] = {
    "traceId": "proj-961",
    "moduleId": "CheckoutService",
    "editionId": "vetclinic",
    "baseUrl": "http://127.0.0.1:9",
    "endpoint": "/checkout/submit",
    "tests": [
        {"type": "load", "rps": 20, "duration": "1s"},
        {"type": "spike", "rps": 40, "duration": "1s", "retryOnFail": False},
    ],
}


def test_retry_on_flakiness_asks_every_test_without_its_own_setting_to_retry() -> None:
    plain = interpret(load_inputs(PLAN))
    flagged = interpret(load_inputs(PLAN), retry_on_flakiness=True)

    assert [t.retry_on_fail for t in plain.tests] == [False, False]
    assert [t.retry_on_fail for t in flagged.tests] == [True, False]  # the plan's own "false" wins
    assert (plain.retry_on_fail, flagged.retry_on_fail) == (False, True)


def test_warn_on_regression_travels_with_the_plan_to_the_verdict() -> None:
    regressed = judged_test(
        "pass",
        0.95,
        baseline_comparison=BaselineComparison(
            p95_latency_baseline=60.0,
            p95_current=90.0,
            delta_latency_p95="+50%",
            regressed=True,
            confidence=1.0,
            exploratory=False,
        ),
    )
    plain = interpret(load_inputs(PLAN))
    warned = interpret(load_inputs(PLAN), warn_on_regression=True)

    assert (plain.warn_on_regression, warned.warn_on_regression) == (False, True)
    assert evaluate(regressed, plain).status == "degraded"
    judged = evaluate(regressed, warned)
    assert (judged.status, judged.regression) == ("warning", True)
    assert judged.reasons is not None
    assert "warnOnRegression: the regression is a warning and does not fail the gate" in judged.reasons
