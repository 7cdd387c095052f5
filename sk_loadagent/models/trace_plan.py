"""trace.plan.yaml (spec cycle 3): the business feature a trace belongs to, its flows and trace metadata.

Other agents write this file; we read it to label results (which flow an endpoint belongs to) and to
pick the endpoints of a composite flow. Unknown fields are kept.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from sk_loadagent.models._base import OpenWireModel
from sk_loadagent.models.plan import HttpMethod, TestType


class FlowStep(OpenWireModel):
    """One call of a flow: which module and endpoint, in order."""

    module_id: str | None = None
    endpoint: str | None = None
    method: HttpMethod | None = None
    event: str | None = Field(default=None, description="an event or queue name for async steps")
    description: str | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _method_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class FlowGroup(OpenWireModel):
    """A business flow (e.g. Book Appointment -> Notify -> Sync CRM) and the steps it is made of."""

    name: str = Field(min_length=1)
    description: str | None = None
    modules: list[str] | None = None
    steps: list[FlowStep] | None = None
    test_types: list[TestType] | None = None

    def endpoints(self) -> list[str]:
        return [s.endpoint for s in self.steps or () if s.endpoint]

    def involves(self, module_id: str) -> bool:
        return module_id in (self.modules or ()) or any(s.module_id == module_id for s in self.steps or ())


class TracePlan(OpenWireModel):
    """A trace.plan.yaml document."""

    trace_id: str | None = None
    feature: str | None = None
    description: str | None = None
    module_id: str | None = None
    edition_id: str | None = None
    flows: list[FlowGroup] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None

    def flow(self, name: str) -> FlowGroup | None:
        return next((f for f in self.flows if f.name == name), None)

    def flows_for(self, module_id: str | None = None, endpoint: str | None = None) -> list[FlowGroup]:
        """The flows that involve a module and/or call an endpoint."""
        return [
            f
            for f in self.flows
            if (module_id is None or f.involves(module_id))
            and (endpoint is None or endpoint in f.endpoints())
        ]
