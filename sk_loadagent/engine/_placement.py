"""Workers placed on other machines: the engine's side of a distributed run (``sk_loadagent.cluster``).

The engine partitions the schedule into ``n`` shares as it does for local processes; a placement decides
where each share's worker runs and gives the engine a ``WorkerHandle`` for it. It knows the machines, so
it also groups what each worker measured by node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from sk_loadagent.engine._handles import WorkerHandle
from sk_loadagent.engine._messages import WorkerSpec
from sk_loadagent.engine.result import GeneratorReport, NodeReport


class Placement(Protocol):
    start_delay: float  # seconds from sending the start time to t0: covers the remote calls
    tolerate_loss: bool  # carry on without workers whose node died or hung, their share reported missing

    def worker_count(self) -> int:
        """How many workers (shares of the schedule) to run."""
        ...

    def start(self, specs: Sequence[WorkerSpec]) -> list[WorkerHandle]:
        """A started worker per spec, each ready to take its start time (or an AgentFailure)."""
        ...

    def nodes(self, reports: Mapping[int, GeneratorReport], lost: Mapping[int, str]) -> list[NodeReport]:
        """Per node: the generator reports of its workers added up, or why its share is missing."""
        ...
