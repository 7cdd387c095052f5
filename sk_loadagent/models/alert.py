"""regression-alert.yaml (spec cycles 4, 11 and 16): emitted on failure or significant degradation.

The spec writes it three ways: cycle 4 (``triggeredBy``, ``reason``, ``actionRequired``, ``suggestions``),
cycle 11 (``trigger``, ``suggestedActions``) and cycle 16 (``reason``, ``suggestedActions``). One model
reads all three and keeps the spelling given; ``actions()`` and ``cause()`` answer whichever was used.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from sk_loadagent.models._base import FieldProblem, WireModel
from sk_loadagent.models.metrics import AnyStatus


class AlertedTest(WireModel):
    """One test of the suite that raised the alert."""

    endpoint: str | None = None
    test_type: str | None = None
    status: AnyStatus | None = None
    reason: str | None = None


class NewBottleneck(WireModel):
    """Cycle 10: the trace path has a new bottleneck span; its self time against the baseline's."""

    service: str
    span: str
    self_delta_vs_baseline: str | None = None
    self_p95_ms: float | None = None
    baseline_self_p95_ms: float | None = None
    previous_bottleneck: str | None = None


class RegressionAlert(WireModel):
    """A regression-alert.yaml document."""

    triggered_by: str | None = Field(
        default=None, description='what raised it, e.g. "performance-regression"'
    )
    trigger: str | None = Field(default=None, description="the triggering observation (cycle 11)")
    reason: str | None = None
    trace_id: str | None = None
    edition_id: str | None = None
    module_id: str | None = None
    test_type: str | None = None
    endpoint: str | None = None
    status: AnyStatus | None = None
    performance_score: float | None = Field(default=None, ge=0, le=1)
    retry_attempt: int | None = Field(default=None, ge=0)
    action_required: bool | None = None
    suggestions: list[str] | None = None
    suggested_actions: list[str] | None = None
    escalated: bool | None = Field(default=None, description="retries did not recover the run (cycle 18)")
    new_bottleneck: NewBottleneck | None = None
    tests: list[AlertedTest] | None = None

    @model_validator(mode="after")
    def _says_why(self) -> RegressionAlert:
        if self.reason is None and self.trigger is None:
            raise FieldProblem("reason", "a sentence saying what regressed (reason, or trigger)")
        return self

    def cause(self) -> str:
        """What regressed, in the alert's own words."""
        return self.reason or self.trigger or ""

    def actions(self) -> list[str]:
        """The suggested actions, whichever spelling listed them."""
        return [
            *(self.suggestions or ()),
            *(a for a in self.suggested_actions or () if a not in (self.suggestions or ())),
        ]
