"""customWeighting.yaml (spec cycle 15): score weights overridden per module, edition or test type.

An entry may give only some weights; the others keep their value from the less specific scopes and
finally the default formula. Turning partial weights into one ``ScoreWeights`` (most specific scope
wins, renormalised to sum 1) is the scorer's job; this module only reads and checks the file.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from sk_loadagent.models._base import FieldProblem, WireModel
from sk_loadagent.models.plan import TestType


class PartialWeights(WireModel):
    """Some or all of the five score weights, each between 0 and 1."""

    latency: float | None = Field(default=None, ge=0, le=1)
    throughput: float | None = Field(default=None, ge=0, le=1)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    resource_utilization: float | None = Field(default=None, ge=0, le=1)
    baseline_delta: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _some(self) -> PartialWeights:
        if not self.given():
            raise ValueError(
                "at least one of latency, throughput, errorRate, resourceUtilization, baselineDelta"
            )
        return self

    def given(self) -> dict[str, float]:
        """The weights this entry sets, by ScoreWeights attribute name (``error_rate``...)."""
        return {name: value for name, value in self if value is not None}


class WeightingEntry(WireModel):
    """Weights for one scope; a scope field left out matches any value."""

    module_id: str | None = None
    edition_id: str | None = None
    test_type: TestType | None = None
    weights: PartialWeights
    reason: str | None = None

    def matches(self, module_id: str | None, edition_id: str | None, test_type: str | None) -> bool:
        return (
            (self.module_id is None or self.module_id == module_id)
            and (self.edition_id is None or self.edition_id == edition_id)
            and (self.test_type is None or self.test_type == test_type)
        )

    @property
    def specificity(self) -> int:
        """Like ``ScopedLimits.specificity``: test type weighs more than edition, edition more than module."""
        return (4 if self.test_type else 0) + (2 if self.edition_id else 0) + (1 if self.module_id else 0)


class CustomWeighting(WireModel):
    """A customWeighting.yaml document."""

    weightings: list[WeightingEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_scopes(self) -> CustomWeighting:
        seen: set[tuple[str | None, str | None, str | None]] = set()
        for entry in self.weightings:
            scope = (entry.module_id, entry.edition_id, entry.test_type)
            if scope in seen:
                shown = "/".join(s or "*" for s in scope)
                raise FieldProblem(
                    "weightings", f"one entry per scope (module/edition/testType {shown} repeats)"
                )
            seen.add(scope)
        return self

    def matching(
        self, module_id: str | None, edition_id: str | None, test_type: str | None
    ) -> list[WeightingEntry]:
        """The entries that apply to a test, least specific first (so later ones override earlier ones)."""
        found = [e for e in self.weightings if e.matches(module_id, edition_id, test_type)]
        return sorted(found, key=lambda e: e.specificity)
