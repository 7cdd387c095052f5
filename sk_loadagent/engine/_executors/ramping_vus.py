"""ramping-vus: the number of virtual users follows stages linearly (closed model), like k6's executor."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sk_loadagent.engine._executors._base import ExecutorBase, Model, Stage


class RampingVUs(ExecutorBase):
    """VU ``j`` runs while the linear target is above ``j``; a VU asked to stop finishes its request first."""

    model: ClassVar[Model] = "closed"
    unit: ClassVar[str] = "VUs"

    executor: Literal["ramping-vus"] = "ramping-vus"
    start_vus: int = Field(default=0, ge=0)
    stages: list[Stage] = Field(min_length=1)
    think_time: float = Field(default=0.0, ge=0)

    def stage_list(self) -> list[Stage]:
        return self.stages

    def initial_level(self) -> float:
        return float(self.start_vus)
