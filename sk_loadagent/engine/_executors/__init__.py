"""Executor configs by k6 name; each validates and describes itself (one module per executor)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from sk_loadagent.engine._executors._base import ExecutorBase, Stage
from sk_loadagent.engine._executors.constant_arrival_rate import ConstantArrivalRate
from sk_loadagent.engine._executors.constant_vus import ConstantVUs
from sk_loadagent.engine._executors.ramping_arrival_rate import RampingArrivalRate
from sk_loadagent.engine._executors.ramping_vus import RampingVUs

ExecutorConfig = Annotated[
    ConstantArrivalRate | RampingArrivalRate | ConstantVUs | RampingVUs, Field(discriminator="executor")
]

EXECUTORS: dict[str, type[ExecutorBase]] = {
    "constant-arrival-rate": ConstantArrivalRate,
    "ramping-arrival-rate": RampingArrivalRate,
    "constant-vus": ConstantVUs,
    "ramping-vus": RampingVUs,
}

__all__ = [
    "EXECUTORS",
    "ConstantArrivalRate",
    "ConstantVUs",
    "ExecutorBase",
    "ExecutorConfig",
    "RampingArrivalRate",
    "RampingVUs",
    "Stage",
]
