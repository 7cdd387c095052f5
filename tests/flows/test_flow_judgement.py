"""A flow judged: scored on its iterations, its steps' own limits, step series in memory, and the step
that moved."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from journey_server import JourneyServer

from sk_loadagent.analysis import summarize
from sk_loadagent.engine import RunOptions, build_profile, run_load
from sk_loadagent.memory import SeriesKey, open_store
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.plan import TestSpec
from sk_loadagent.suite.judge import compare_test, evaluate_test, score_test
from sk_loadagent.suite.remember import push_test
from sk_loadagent.suite.sources import Sources

FLOW = {
    "name": "checkout-flow",
    "type": "load",
    "rps": 50,
    "duration": "2s",
    "rampUp": "0s",
    "flow": [
        {
            "name": "login",
            "request": {"method": "POST", "path": "/auth/login", "json": {"user": "u1", "password": "pw-u1"}},
            "extract": {"token": "$.token"},
            "check": {"status": 200},
        },
        {
            "name": "add-item",
            "request": {
                "method": "POST",
                "path": "/cart/items",
                "headers": {"Authorization": "Bearer ${token}"},
                "json": {"sku": "A1"},
            },
            "check": {"status": 201},
        },
    ],
}
THRESHOLDS = {
    "module": "CheckoutService",
    "thresholds": [
        {"latencyP95": 500, "errorRateMax": 0.01},
        {"step": "add-item", "latencyP95": 5, "errorRateMax": 0.01},
    ],
}


async def _measured(url: str) -> PerfMetrics:
    test = validate_document(FLOW, TestSpec, "flow.plan.yaml", strict=True)
    result = await run_load(build_profile(test, base_url=url), RunOptions(workers=0))
    metrics = summarize(result, test_type="load")
    metrics.module_id, metrics.edition_id, metrics.test_type = "CheckoutService", "vetclinic", "load"
    metrics.test_name, metrics.endpoint = "checkout-flow", "flow:checkout-flow"
    return metrics


def _judged(metrics: PerfMetrics, sources: Sources, store_path: Path) -> PerfMetrics:
    with open_store(store_path) as store:
        compared = compare_test(metrics, None, store, sources)
        judged = evaluate_test(score_test(compared, sources, None), sources)
        push_test(judged, store)
    return judged


async def test_a_flow_is_scored_on_its_iterations_and_its_steps_on_their_own_limits(
    journey: JourneyServer, tmp_path: Path
) -> None:
    journey.delays["/cart/items"] = 0.01
    metrics = await _measured(journey.url)
    assert metrics.requests == 100
    assert metrics.flow is not None
    assert (metrics.flow.iterations, metrics.flow.completed, metrics.flow.step_requests) == (100, 100, 200)
    assert metrics.latency is not None
    assert metrics.latency.p50 is not None
    assert metrics.latency.p50 >= 10.0  # the iteration holds its slow step
    assert metrics.steps is not None
    assert [s.name for s in metrics.steps] == ["login", "add-item"]
    sources = Sources.from_documents(thresholds=[("perf-thresholds.yaml", THRESHOLDS)])
    judged = _judged(metrics, sources, tmp_path / "memory.sqlite")
    assert judged.steps is not None
    login, add = judged.steps
    assert login.thresholds is None  # no scope names it: a step has no default limits
    assert add.thresholds is not None
    assert [(t.metric, t.limit, t.source) for t in add.thresholds] == [
        ("latencyP95", 5.0, "perf-thresholds.yaml[CheckoutService step add-item]"),
        ("errorRateMax", 0.01, "perf-thresholds.yaml[CheckoutService step add-item]"),
    ]
    assert judged.violations is not None
    (violation,) = judged.violations
    assert violation.step == "add-item"
    assert re.fullmatch(
        r"step add-item: p95 [0-9.]+ ms > 5 ms limit \(\+[0-9]+ %\) from "
        r"perf-thresholds\.yaml\[CheckoutService step add-item\]",
        violation.message,
    )
    assert judged.performance_score == 1.0  # the iterations are within their limits: the score says so
    assert judged.status == "degraded"  # a significant violation of a step's limit


async def test_memory_keeps_step_series_and_a_regression_names_the_step_that_moved(
    journey: JourneyServer, tmp_path: Path
) -> None:
    store_path = tmp_path / "memory.sqlite"
    sources = Sources()
    # login gets a service time of its own, so a busy machine's scheduling noise (a millisecond or two at
    # p95) stays well inside the regression tolerance of the step that does not move
    journey.delays["/auth/login"] = 0.01
    journey.delays["/cart/items"] = 0.005
    for _ in range(3):  # only a pass becomes the baseline; a busy machine's late starts make a warning
        baseline = _judged(await _measured(journey.url), sources, store_path)
        if baseline.status == "pass":
            break
    assert baseline.status == "pass"
    with open_store(store_path) as store:
        endpoints = sorted(k.endpoint or "" for k in store.keys())  # noqa: SIM118 (a store, not a dict)
        assert endpoints == [
            "flow:checkout-flow",
            "flow:checkout-flow step:add-item",
            "flow:checkout-flow step:login",
        ]
        key = next(k for k in store.keys() if k.endpoint == "flow:checkout-flow step:add-item")  # noqa: SIM118
        assert isinstance(key, SeriesKey)
        assert key.load_profile == "open 50 rps: steady; under 15 s; flow login > add-item"
        assert store.baseline(key) is not None  # promoted with its flow
    journey.delays["/cart/items"] = 0.03
    slower = _judged(await _measured(journey.url), sources, store_path)
    comparison = slower.baseline_comparison
    assert comparison is not None
    assert comparison.regressed
    assert comparison.metrics is not None
    assert comparison.metrics["step add-item p95"].regressed
    assert "step login p95" not in comparison.metrics
    assert comparison.moved_steps is not None
    assert comparison.moved_steps[0].startswith("add-item p95 +")
    assert slower.reasons is not None
    assert any(r.startswith("step add-item p95 regressed +") for r in slower.reasons)
    assert f"the step that moved most: {comparison.moved_steps[0]}" in slower.reasons
    assert slower.steps is not None
    assert slower.steps[1].baseline is not None
    assert slower.steps[1].baseline.regressed


@pytest.mark.parametrize(
    ("scope", "applies_to_flow", "applies_to_step"),
    [({"latencyP95": 1}, True, False), ({"step": "login", "latencyP95": 1}, False, True)],
)
def test_a_step_scope_applies_to_its_step_alone(
    scope: dict[str, object], applies_to_flow: bool, applies_to_step: bool
) -> None:
    sources = Sources.from_documents(thresholds=[("t.yaml", {"thresholds": [scope]})])
    test = PerfMetrics(module_id="M", test_type="load", endpoint="flow:f")
    flow_limit = sources.limits_for(test).get("latencyP95")
    assert (flow_limit is not None and flow_limit.source != "default") is applies_to_flow
    assert bool(sources.step_limits_for(test, "login")) is applies_to_step
    assert not sources.step_limits_for(test, "other")


def test_the_tile_speaks_of_iterations_for_a_flow() -> None:
    from sk_loadagent.models.metrics import LatencySummary, StepMetrics
    from sk_loadagent.publish.text import test_sentence

    flow = PerfMetrics(
        test_type="load",
        test_name="checkout-flow",
        endpoint="flow:checkout-flow",
        rps=20.0,
        error_rate=0.0,
        latency=LatencySummary(p95=90.7),
        status="pass",
        steps=[StepMetrics(name="login", target="POST /auth/login", requests=120)],
    )
    assert test_sentence(flow) == (
        "Load test of flow checkout-flow (1 step): p95 90.7 ms per iteration at 20 iterations/s, no errors. "
        "Not compared with a baseline: exploratory run. Passed."
    )
