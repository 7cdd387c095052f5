"""constant-vus: a fixed number of virtual users looping request → think time (closed model)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from sk_loadagent.engine._executors._base import ExecutorBase, Model, Stage


class ConstantVUs(ExecutorBase):
    """``vus`` users, each on its own kept-open connection, for ``duration``."""

    model: ClassVar[Model] = "closed"
    unit: ClassVar[str] = "VUs"

    executor: Literal["constant-vus"] = "constant-vus"
    vus: int = Field(ge=1)
    duration: float = Field(gt=0)
    think_time: float = Field(default=0.0, ge=0)
    phase: str = Field(default="steady", min_length=1)

    def stage_list(self) -> list[Stage]:
        return [Stage(duration=self.duration, target=self.vus, start=self.vus, phase=self.phase)]
