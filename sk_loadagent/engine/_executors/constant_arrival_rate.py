"""constant-arrival-rate: one fixed rate for a duration (open model)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sk_loadagent.engine._executors._base import ExecutorBase, Model, Stage


class ConstantArrivalRate(ExecutorBase):
    """Start ``rate`` requests per second for ``duration``, whether or not earlier ones finished."""

    model: ClassVar[Model] = "open"
    unit: ClassVar[str] = "rps"

    executor: Literal["constant-arrival-rate"] = "constant-arrival-rate"
    rate: float = Field(gt=0)
    duration: float = Field(gt=0)
    phase: str = Field(default="steady", min_length=1)

    def stage_list(self) -> list[Stage]:
        return [Stage(duration=self.duration, target=self.rate, start=self.rate, phase=self.phase)]
