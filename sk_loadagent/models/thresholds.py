"""perf-thresholds.yaml (spec cycles 3, 8 and 14) in its single-scope and multi-edition list forms."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import AliasChoices, Field, model_validator

from sk_loadagent.models._base import FieldProblem, WireModel
from sk_loadagent.models.plan import TestType


class LatencyLimits(WireModel):
    """Upper limits on latency percentiles, in milliseconds."""

    p50: float | None = Field(default=None, gt=0)
    p95: float | None = Field(default=None, gt=0)
    p99: float | None = Field(default=None, gt=0)


class RegressionTolerance(WireModel):
    """How far a metric may move against the memory baseline before it counts as a regression."""

    p95: float | None = Field(default=None, gt=0, description="relative p95 increase, 0.25 = +25 %")
    p99: float | None = Field(default=None, gt=0, description="relative p99 increase")
    rps: float | None = Field(default=None, gt=0, lt=1, description="relative rps decrease")
    error_rate: float | None = Field(default=None, gt=0, le=1, description="absolute error-rate increase")


class ThresholdLimits(WireModel):
    """The limits of one scope. Latency may be nested (``latencyMs.p95``) or flat (``latencyP95``)."""

    latency_ms: LatencyLimits | None = None
    latency_p50: float | None = Field(default=None, gt=0)
    latency_p95: float | None = Field(default=None, gt=0)
    latency_p99: float | None = Field(default=None, gt=0)
    rps_min: float | None = Field(default=None, gt=0)
    error_rate_max: float | None = Field(default=None, ge=0, le=1)
    cpu_usage_max: float | None = Field(default=None, gt=0)
    memory_usage_max: float | None = Field(default=None, gt=0)
    regression: RegressionTolerance | None = None

    def latency_limit(self, percentile: str) -> float | None:
        """The limit for ``p50``/``p95``/``p99`` whichever spelling gave it (the flat one wins if both do)."""
        flat: float | None = getattr(self, f"latency_{percentile}")
        if flat is not None:
            return flat
        return getattr(self.latency_ms, percentile) if self.latency_ms is not None else None


class ThresholdScope(ThresholdLimits):
    """One entry of the list form: limits plus the scope they apply to."""

    edition_id: str | None = None
    module_id: str | None = Field(
        default=None, validation_alias=AliasChoices("moduleId", "module", "module_id")
    )
    test_type: TestType | None = None
    endpoint: str | None = None
    step: str | None = Field(
        default=None, min_length=1, description="a flow step's name: these limits apply to that step alone"
    )


class ThresholdDefaults(WireModel):
    test_type: TestType | None = None


@dataclass(frozen=True)
class ScopedLimits:
    """Limits with the scope they apply to; ``None`` in a scope field means any."""

    module_id: str | None
    edition_id: str | None
    test_type: str | None
    endpoint: str | None
    limits: ThresholdLimits
    step: str | None = None

    def matches(
        self,
        module_id: str | None,
        edition_id: str | None,
        test_type: str,
        endpoint: str | None,
        step: str | None = None,
    ) -> bool:
        """Whether these limits apply; a scope with a ``step`` applies to that flow step alone, one without
        to whole tests (a flow's iterations) and never to a step."""
        return (
            self.step == step
            and (self.module_id is None or self.module_id == module_id)
            and (self.edition_id is None or self.edition_id == edition_id)
            and (self.test_type is None or self.test_type == test_type)
            and (self.endpoint is None or self.endpoint == endpoint)
        )

    @property
    def specificity(self) -> int:
        """More scope fields set = more specific; endpoint and test type outweigh edition and module."""
        return (
            (16 if self.step else 0)
            + (8 if self.endpoint else 0)
            + (4 if self.test_type else 0)
            + (2 if self.edition_id else 0)
            + (1 if self.module_id else 0)
        )


class PerfThresholds(WireModel):
    """A perf-thresholds.yaml document."""

    module: str | None = Field(default=None, validation_alias=AliasChoices("module", "moduleId"))
    edition_id: str | None = None
    test_type: TestType | None = None
    endpoint: str | None = None
    step: str | None = Field(
        default=None, min_length=1, description="a flow step's name (see ThresholdScope)"
    )
    defaults: ThresholdDefaults | None = None
    thresholds: ThresholdLimits | list[ThresholdScope]

    @model_validator(mode="after")
    def _non_empty_list(self) -> PerfThresholds:
        if isinstance(self.thresholds, list) and not self.thresholds:
            raise FieldProblem("thresholds", "at least one entry (an empty list sets no limits)")
        return self

    def scopes(self) -> list[ScopedLimits]:
        """Every set of limits in the file, with its full scope (entry fields override the document's)."""
        doc_type = self.test_type or (self.defaults.test_type if self.defaults else None)
        if isinstance(self.thresholds, ThresholdLimits) and not isinstance(self.thresholds, ThresholdScope):
            return [
                ScopedLimits(
                    self.module, self.edition_id, doc_type, self.endpoint, self.thresholds, self.step
                )
            ]
        entries = self.thresholds if isinstance(self.thresholds, list) else [self.thresholds]
        return [
            ScopedLimits(
                e.module_id or self.module,
                e.edition_id or self.edition_id,
                e.test_type or doc_type,
                e.endpoint or self.endpoint,
                e,
                e.step or self.step,
            )
            for e in entries
        ]
