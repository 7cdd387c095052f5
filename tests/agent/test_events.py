"""The parts of the event listener that need no bus: the envelope, the plan an event calls for, the
collaboration rules (cycle 12), recovery time, and the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sk_loadagent.agent.ledger import EventLedger
from sk_loadagent.agent.listener import Listener, ListenerConfig, PoisonEvent, outbound_events, parse_event
from sk_loadagent.agent.session import AgentConfig
from sk_loadagent.analysis.recovery import recovery_time
from sk_loadagent.errors import InputError
from sk_loadagent.models.metrics import PerfMetrics

PLAN: dict[str, Any] = {
    "moduleId": "CheckoutService",
    "editionId": "vetclinic",
    "allowHosts": ["evil.example"],
    "endpoint": "/checkout/submit",
    "tests": [{"type": "load", "rps": 40, "duration": "1m", "body": {"a": 1}}],
}
EVENT: dict[str, Any] = {
    "eventId": "e-1",
    "type": "TestGenerated",
    "traceId": "t-1",
    "moduleId": "CheckoutService",
    "planRef": "checkout.plan.yaml",
}


def listener(tmp_path: Path) -> Listener:
    (tmp_path / "checkout.plan.yaml").write_text(yaml.safe_dump(PLAN))
    config = ListenerConfig(
        session=AgentConfig(), plans_dir=tmp_path, ledger=EventLedger(tmp_path / "ledger.json")
    )
    return Listener(config, bus=None, report=lambda line: None)  # type: ignore[arg-type]


def test_a_chaos_event_needs_its_fault() -> None:
    with pytest.raises(PoisonEvent) as caught:
        parse_event(json.dumps({**EVENT, "type": "ChaosInjected"}).encode())

    assert (
        str(caught.value) == "event: fault: expected the injected fault: kind, startedAt and durationSeconds"
    )


def test_an_unknown_event_type_is_named() -> None:
    with pytest.raises(PoisonEvent) as caught:
        parse_event(json.dumps({**EVENT, "type": "DeployStarted"}).encode())

    assert str(caught.value) == (
        "event: type: expected one of 'TestGenerated', 'BuildCompleted' or 'ChaosInjected', "
        "got 'DeployStarted'"
    )


def test_the_plan_takes_the_events_scope_and_drops_its_own_allow_list(tmp_path: Path) -> None:
    event = parse_event(
        json.dumps({**EVENT, "editionId": "vetclinic-premium", "sourceAgent": "CIAgent"}).encode()
    )

    plan = listener(tmp_path).plan_for(event)

    assert (plan.trace_id, plan.edition_id, plan.source_agent, plan.allow_hosts) == (
        "t-1",
        "vetclinic-premium",
        "CIAgent",
        [],
    )


def test_a_flaky_feature_adds_a_latency_test_at_the_plans_rate(tmp_path: Path) -> None:
    event = parse_event(json.dumps({**EVENT, "qa": {"flakyFeature": True}}).encode())

    plan = listener(tmp_path).plan_for(event)

    added = plan.tests[-1]
    assert (added.type, added.name, added.rps, added.body) == ("latency", "qa-flaky-latency", 20.0, {"a": 1})


def test_an_event_for_another_module_than_its_plan_is_refused(tmp_path: Path) -> None:
    event = parse_event(json.dumps({**EVENT, "moduleId": "BillingService"}).encode())

    with pytest.raises(InputError) as caught:
        listener(tmp_path).plan_for(event)

    assert str(caught.value) == (
        "event: moduleId: expected the module of checkout.plan.yaml (CheckoutService), got 'BillingService'"
    )


def test_a_degraded_soak_is_reported_to_the_resiliency_agent(tmp_path: Path) -> None:
    (tmp_path / "preview.json").write_text(json.dumps({"traceId": "t-1"}))
    soak = {
        "testType": "soak",
        "testName": "checkout-soak",
        "status": "degraded",
        "reasons": ["latency slope +4.1 ms/min: degrading"],
    }
    metrics = PerfMetrics.model_validate(
        {"moduleId": "CheckoutService", "status": "degraded", "performanceScore": 0.8, "tests": [soak]}
    )

    published = outbound_events(
        parse_event(json.dumps(EVENT).encode()), metrics, {"preview": str(tmp_path / "preview.json")}
    )

    assert [(e.type, e.target_agent, e.reason) for e in published] == [
        ("PerformanceTestCompleted", None, None),
        (
            "SoakTimeoutBreached",
            "ResiliencyAgent",
            "soak checkout-soak: latency slope +4.1 ms/min: degrading",
        ),
    ]


@pytest.mark.parametrize(
    ("p95s", "expected"),
    [
        ([20.0, 25.0, 30.0], 0.0),
        ([900.0, 850.0, 30.0, 20.0], 2.0),
        ([900.0, 30.0, 900.0, 30.0], 3.0),
        ([30.0, 900.0], None),
        ([None, 900.0, None, 30.0], 2.0),
    ],
)
def test_recovery_time_is_when_p95_stays_under_its_limit(
    p95s: list[float | None], expected: float | None
) -> None:
    assert recovery_time([float(t) for t in range(len(p95s))], p95s, limit=800.0) == expected


def test_the_ledger_keeps_handled_events_across_restarts_and_refuses_another_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    EventLedger(path).record("e-1", {"outcome": "run"})

    assert EventLedger(path).handled("e-1") is not None
    path.write_text(json.dumps({"events": []}))
    with pytest.raises(InputError) as caught:
        EventLedger(path)
    assert str(caught.value) == f"{path}: version: expected an event ledger of version 1, got another file"
