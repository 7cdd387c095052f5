"""ramping-arrival-rate: a piecewise-linear rate through stages (open model), like k6's executor."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sk_loadagent.engine._executors._base import ExecutorBase, Model, Stage


class RampingArrivalRate(ExecutorBase):
    """Move the arrival rate linearly from ``start_rate`` through each stage's target."""

    model: ClassVar[Model] = "open"
    unit: ClassVar[str] = "rps"

    executor: Literal["ramping-arrival-rate"] = "ramping-arrival-rate"
    start_rate: float = Field(default=0.0, ge=0)
    stages: list[Stage] = Field(min_length=1)

    def stage_list(self) -> list[Stage]:
        return self.stages

    def initial_level(self) -> float:
        return self.start_rate
