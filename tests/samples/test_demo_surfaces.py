"""``sk-loadagent demo --surfaces``: its plan (each sample surface, shortened) and the whole demo (opt-in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sk_loadagent.cli.demo import SURFACE_SECONDS, surfaces_plan
from sk_loadagent.cli.main import main
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.sample_service import samples_dir


@pytest.mark.parametrize("amqp", [True, False])
def test_the_surfaces_demo_runs_each_sample_surface_shortened(amqp: bool) -> None:
    plan = TestSuitePlan.model_validate(
        surfaces_plan(samples_dir() / "vetclinic", amqp=amqp, grpc_url="grpc://127.0.0.1:50051")
    )
    surfaces = [t.surface for t in plan.tests]
    assert surfaces == ["websocket", "webhook", "job", "grpc", *(["amqp", None] if amqp else [])]
    if amqp:  # the composite flow: booked over HTTP, reminded through RabbitMQ
        flow = plan.tests[-1].flow
        assert flow is not None
        assert [(s.request is not None, s.surface) for s in flow] == [(True, None), (False, "amqp")]
    grpc = plan.tests[3].grpc
    assert grpc is not None
    assert Path(grpc.proto).is_file()
    assert all(t.duration == SURFACE_SECONDS for t in plan.tests)


@pytest.mark.optin
def test_the_surfaces_demo_catches_the_slow_release(tmp_path: Path) -> None:
    assert main(["demo", "--surfaces", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "demo-surfaces" / "2-slow-release" / "regression-alert.yaml").is_file()
