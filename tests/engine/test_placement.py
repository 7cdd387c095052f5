"""A placement's workers (sk_loadagent.cluster's, here a stand-in without Ray): one that never reports is
abandoned at the run's bound — the run fails naming it, or with tolerance carries on without its share."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from sk_loadagent.engine import GeneratorReport, NodeReport, RunOptions, build_profile, run_load
from sk_loadagent.engine import _runner as runner
from sk_loadagent.engine._handles import LocalHandle, WorkerHandle
from sk_loadagent.engine._messages import WorkerSpec
from sk_loadagent.engine._worker import Message
from sk_loadagent.errors import WorkerFailedError
from sk_loadagent.models.plan import TestSpec

Serve = Callable[..., object]


class SilentHandle:
    """A worker on a node that hung: it said ready, then nothing."""

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self._said_ready = False

    def poll(self) -> list[Message]:
        ready = not self._said_ready
        self._said_ready = True
        return [("ready",)] if ready else []

    def send(self, message: Message) -> None:
        pass

    def alive(self) -> bool:
        return True

    def describe_exit(self) -> str:
        return "worker on node 10.9.9.9 is still running"

    async def stop(self, *, force: bool = False) -> None:
        pass


@dataclass
class OneNodeHangs:
    tolerate_loss: bool
    start_delay: float = 0.05
    seen: dict[int, str] = field(default_factory=dict)

    def worker_count(self) -> int:
        return 2

    def start(self, specs: Sequence[WorkerSpec]) -> list[WorkerHandle]:
        return [LocalHandle(specs[0]), SilentHandle(specs[1].worker)]

    def nodes(self, reports: Mapping[int, GeneratorReport], lost: Mapping[int, str]) -> list[NodeReport]:
        self.seen = dict(lost)
        return [
            NodeReport("a", "10.9.9.8", [0], reports.get(0), 0.0, 0.001),
            NodeReport("b", "10.9.9.9", [1], None, 0.0, 0.001, lost=lost.get(1)),
        ]


@pytest.fixture
def profile(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setattr(runner, "REPORT_TIMEOUT", 0.3)  # the bound's last part, shortened for the test
    server = serve(delay=0.001)
    test = {"type": "load", "rps": 100, "duration": "500ms", "rampUp": "0s", "timeout": "500ms"}
    return build_profile(TestSpec.model_validate(test), base_url=server.url)  # type: ignore[attr-defined]


async def test_a_hung_node_fails_the_run_at_its_bound(profile: object) -> None:
    with pytest.raises(
        WorkerFailedError, match=r"load workers \[1\] hung: no result 0.3s after the schedule"
    ):
        await run_load(profile, RunOptions(placement=OneNodeHangs(tolerate_loss=False)))  # type: ignore[arg-type]


async def test_with_tolerance_a_hung_node_is_abandoned_and_its_share_reported(profile: object) -> None:
    placement = OneNodeHangs(tolerate_loss=True)
    result = await run_load(profile, RunOptions(placement=placement))  # type: ignore[arg-type]
    assert len(result.samples) == 25  # worker 0's arrivals 0, 2, 4, ... of 50
    assert result.missing_share == 0.5
    assert placement.seen == {
        1: "worker on node 10.9.9.9 is still running: hung, abandoned at the run's bound"
    }
    assert result.nodes[1].lost is not None
    assert result.warnings[-1] == (
        "1 of 2 workers were lost with their nodes (worker on node 10.9.9.9 is still running: hung, "
        "abandoned at the run's bound): 50.0% of the schedule is missing from every figure"
    )
