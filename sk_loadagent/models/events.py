"""Events between agents (spec cycle 12): the envelope the load agent consumes, and the ones it publishes.

Consumed: ``TestGenerated`` (a QA or generator agent wrote a plan), ``BuildCompleted`` (CI built a release),
``ChaosInjected`` (the Resiliency agent injected a fault; a run after the fault measures the recovery).
Published: ``PerformanceTestCompleted`` after every run, ``PerformanceRegressionDetected`` when a run
regressed or failed, ``SoakTimeoutBreached`` for the Resiliency agent when a soak test degraded,
``DeveloperNotification`` when the score is below 0.75.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sk_loadagent.models._base import FieldProblem, Timestamp, WireModel

InboundType = Literal["TestGenerated", "BuildCompleted", "ChaosInjected"]
OutboundType = Literal[
    "PerformanceTestCompleted",
    "PerformanceRegressionDetected",
    "SoakTimeoutBreached",
    "DeveloperNotification",
]


class ChaosFault(WireModel):
    """The fault a ChaosInjected event announces: the run starts when it ends."""

    kind: str = Field(min_length=1, description="what was injected, e.g. pod-kill or latency")
    started_at: Timestamp
    duration_seconds: float = Field(ge=0, le=3600)


class QaFlags(WireModel):
    """QA agent flags (cycle 12): ``flakyFeature`` adds a latency test to isolate infra from logic."""

    flaky_feature: bool = False


class EventEnvelope(WireModel):
    """An event the listener consumes. ``planRef`` names a plan file under the listener's ``--plans``."""

    event_id: str = Field(min_length=1, max_length=200)
    type: InboundType
    trace_id: str = Field(min_length=1)
    module_id: str = Field(min_length=1)
    edition_id: str | None = None
    plan_ref: str = Field(min_length=1, description="a plan file, relative to the listener's plans folder")
    source_agent: str | None = None
    build_id: str | None = None
    fault: ChaosFault | None = None
    qa: QaFlags | None = None

    @model_validator(mode="after")
    def _fault_for_chaos(self) -> EventEnvelope:
        if self.type == "ChaosInjected" and self.fault is None:
            raise FieldProblem("fault", "the injected fault: kind, startedAt and durationSeconds")
        return self


class OutboundEvent(WireModel):
    """An event the listener publishes, caused by one it consumed."""

    event_id: str
    type: OutboundType
    causation_id: str = Field(description="the eventId of the event that caused this one")
    trace_id: str
    module_id: str
    edition_id: str | None = None
    target_agent: str | None = Field(default=None, description="the agent this event is meant for")
    status: str | None = None
    performance_score: float | None = None
    gate_passed: bool | None = None
    recovery_time_seconds: float | None = None
    reason: str | None = None
    preview: dict[str, Any] | None = None
    alert: dict[str, Any] | None = None
