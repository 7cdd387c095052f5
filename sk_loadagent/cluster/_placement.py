"""Placing the engine's workers on a Ray cluster: one worker per CPU, spread across the nodes, each the
engine's own share of the schedule; the nodes' clocks measured for the common start."""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sk_loadagent.cluster._actor import LoadWorker
from sk_loadagent.cluster._handle import NodeClock, RayHandle
from sk_loadagent.engine._handles import WorkerHandle
from sk_loadagent.engine._messages import WorkerSpec
from sk_loadagent.engine.result import GeneratorReport, NodeReport
from sk_loadagent.errors import AgentFailure

READY_TIMEOUT_S = 30.0  # the placement group's bundles reserved, and every actor answering
CLOCK_PROBES = 5
START_DELAY_S = 1.0  # from sending t0 to t0: the start calls reach every actor well within it


@dataclass
class RayPlacement:
    """``engine.RunOptions(placement=...)`` for a connected cluster (see ``sk_loadagent.cluster.connect``)."""

    address: str
    workers: int | None = None  # None: one per CPU of the cluster
    cpus_per_worker: float = 1.0
    tolerate_loss: bool = False
    start_delay: float = START_DELAY_S
    _clocks: dict[int, NodeClock] = field(default_factory=dict)
    _groups: list[Any] = field(default_factory=list)

    def worker_count(self) -> int:
        ray = _module("ray")
        if self.workers is not None:
            return self.workers
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        return max(1, math.floor(cpus / self.cpus_per_worker + 1e-9))

    def start(self, specs: Sequence[WorkerSpec]) -> list[WorkerHandle]:
        ray = _module("ray")
        groups = _module("ray.util.placement_group")
        strategies = _module("ray.util.scheduling_strategies")
        n = len(specs)
        self.close()  # the previous run's group (its actors were killed when that run ended)
        self._clocks.clear()
        self._enough_cpus(n)
        group = groups.placement_group([{"CPU": self.cpus_per_worker}] * n, strategy="SPREAD")
        self._groups.append(group)
        try:
            ray.get(group.ready(), timeout=READY_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            groups.remove_placement_group(group)
            free = ray.available_resources().get("CPU", 0.0)
            raise AgentFailure(
                f"Ray cluster {self.address}: {n} workers of {self.cpus_per_worker:g} CPU could not be "
                f"placed within {READY_TIMEOUT_S:g}s (free: {free:g} CPU)"
            ) from None
        remote = ray.remote(max_concurrency=4)(LoadWorker)
        actors = [
            remote.options(
                num_cpus=self.cpus_per_worker,
                scheduling_strategy=strategies.PlacementGroupSchedulingStrategy(
                    group, placement_group_bundle_index=i
                ),
            ).remote(spec)
            for i, spec in enumerate(specs)
        ]
        handles: list[WorkerHandle] = []
        for spec, actor in zip(specs, actors, strict=True):
            clock = _measure_clock(actor)
            self._clocks[spec.worker] = clock
            handles.append(RayHandle(spec.worker, actor, clock))
        return handles

    def _enough_cpus(self, n: int) -> None:
        ray = _module("ray")
        need = n * self.cpus_per_worker
        total = float(ray.cluster_resources().get("CPU", 0.0))
        if total + 1e-9 < need:  # CPUs that are only busy (another job's) are waited for, up to the timeout
            raise AgentFailure(
                f"Ray cluster {self.address} has {total:g} CPU; {n} workers of {self.cpus_per_worker:g} CPU "
                f"need {need:g}: {need - total:g} CPU missing"
            )

    def nodes(self, reports: Mapping[int, GeneratorReport], lost: Mapping[int, str]) -> list[NodeReport]:
        by_node: dict[str, list[int]] = {}
        for worker, clock in sorted(self._clocks.items()):
            by_node.setdefault(clock.node, []).append(worker)
        out = []
        for node, workers in by_node.items():
            clock = self._clocks[workers[0]]
            mine = [reports[w] for w in workers if w in reports]
            gone = [lost[w] for w in workers if w in lost]
            out.append(
                NodeReport(
                    node=node,
                    address=clock.address,
                    workers=workers,
                    generator=_sum(mine) if mine else None,
                    clock_offset_s=clock.offset_s,
                    round_trip_s=clock.round_trip_s,
                    lost=gone[0] if gone else None,
                )
            )
        return out

    def close(self) -> None:
        groups = _module("ray.util.placement_group")
        for group in self._groups:
            groups.remove_placement_group(group)
        self._groups.clear()


def _measure_clock(actor: Any) -> NodeClock:
    """The node's clock offset from the driver's, NTP style, over the fastest of a few round trips (which
    also waits for the actor to exist)."""
    ray = _module("ray")
    info = ray.get(actor.node.remote(), timeout=READY_TIMEOUT_S)
    best: tuple[float, float] | None = None
    for _ in range(CLOCK_PROBES):
        sent = time.time()
        theirs = ray.get(actor.clock.remote(), timeout=READY_TIMEOUT_S)
        back = time.time()
        trip = back - sent
        if best is None or trip < best[1]:
            best = (theirs - (sent + back) / 2, trip)
    assert best is not None
    return NodeClock(
        node=str(info["node"]), address=str(info["address"]), offset_s=best[0], round_trip_s=best[1]
    )


def _module(name: str) -> Any:
    """Ray, imported here only (its own type hints are partial)."""
    return importlib.import_module(name)


def _sum(reports: list[GeneratorReport]) -> GeneratorReport:
    first = reports[0]
    return GeneratorReport(
        requests=sum(r.requests for r in reports),
        cpu_seconds=sum(r.cpu_seconds for r in reports),
        wall_seconds=first.wall_seconds,
        late_starts=sum(r.late_starts for r in reports),
        dropped=sum(r.dropped for r in reports),
        workers=len(reports),
        transport=first.transport,
        max_in_flight=sum(r.max_in_flight for r in reports),
        connections_opened=sum(r.connections_opened for r in reports),
        late_threshold_s=first.late_threshold_s,
    )
