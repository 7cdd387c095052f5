"""The judging inputs of a run (thresholds, edition SLOs, Studio annotations, weights)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sk_loadagent.analysis import (
    Limit,
    ResolvedLimits,
    WeightOverride,
    resolve_limits,
    resolve_weights,
    step_limits,
)
from sk_loadagent.models.annotation import AnnotationFlags, StudioAnnotations
from sk_loadagent.models.edition import EditionConfig
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.metadata import ServiceMetadata
from sk_loadagent.models.metrics import PerfMetrics, ScoreWeights
from sk_loadagent.models.thresholds import PerfThresholds, ThresholdLimits
from sk_loadagent.models.weighting import CustomWeighting

_OPEN_MODEL = {"load", "spike", "soak", "stress", "latency", "custom"}


@dataclass
class Sources:
    thresholds: list[tuple[str, PerfThresholds]] = field(default_factory=list)
    metadata: ServiceMetadata | None = None
    editions: EditionConfig | None = None
    annotations: StudioAnnotations | None = None
    weighting: CustomWeighting | None = None
    weighting_source: str = "customWeighting.yaml"

    @classmethod
    def from_documents(
        cls,
        *,
        thresholds: list[tuple[str, dict[str, Any]]] | None = None,
        metadata: dict[str, Any] | None = None,
        editions: dict[str, Any] | None = None,
        annotations: dict[str, Any] | None = None,
        weighting: dict[str, Any] | None = None,
    ) -> Sources:
        return cls(
            thresholds=[(s, validate_document(d, PerfThresholds, s)) for s, d in thresholds or []],
            metadata=validate_document(metadata, ServiceMetadata, "service.metadata.yaml")
            if metadata
            else None,
            editions=validate_document(editions, EditionConfig, "edition.config.json") if editions else None,
            annotations=validate_document(annotations, StudioAnnotations, "studio.annotation.yaml")
            if annotations
            else None,
            weighting=validate_document(weighting, CustomWeighting, "customWeighting.yaml")
            if weighting
            else None,
        )

    def flags(self, module_id: str | None, edition_id: str | None, test_type: str | None) -> AnnotationFlags:
        if self.annotations is None:
            return AnnotationFlags()
        return self.annotations.flags_for(module_id, edition_id, test_type)

    def limits(
        self,
        *,
        module_id: str | None,
        edition_id: str | None,
        test_type: str,
        endpoint: str | None,
        memory_derived: ThresholdLimits | None = None,
        target_rps: float | None = None,
    ) -> ResolvedLimits:
        """Effective limits: Studio > perf-thresholds (most specific) > edition SLOs > memory > default."""
        return resolve_limits(
            module_id=module_id,
            edition_id=edition_id,
            test_type=test_type,
            endpoint=endpoint,
            annotation=self.annotations.overrides_for(module_id, edition_id, test_type)
            if self.annotations
            else None,
            files=[doc for _, doc in self.thresholds],
            edition_slo=self.editions.slo_limits(edition_id) if self.editions else None,
            memory_derived=memory_derived,
            target_rps=target_rps if test_type in _OPEN_MODEL else None,
        )

    def limits_for(self, test: PerfMetrics, memory_derived: ThresholdLimits | None = None) -> ResolvedLimits:
        return self.limits(
            module_id=test.module_id,
            edition_id=test.edition_id,
            test_type=test.test_type or "load",
            endpoint=test.endpoint,
            memory_derived=memory_derived,
            target_rps=test.target_rps,
        )

    def step_limits_for(self, test: PerfMetrics, step: str) -> dict[str, Limit]:
        """A flow step's own limits: the perf-thresholds.yaml scopes that name it (``step:``)."""
        return step_limits(
            module_id=test.module_id,
            edition_id=test.edition_id,
            test_type=test.test_type or "load",
            endpoint=test.endpoint,
            step=step,
            files=[doc for _, doc in self.thresholds],
        )

    def weights(self, module_id: str | None, edition_id: str | None, test_type: str | None) -> ScoreWeights:
        """customWeighting.yaml entries (least specific first) over the edition's calibration."""
        overrides: list[WeightOverride] = []
        if self.editions is not None:
            calibration = self.editions.weights(edition_id)
            if calibration is not None:
                given: dict[str, Any] = dict(calibration.given())
                # Unscoped, so it ranks below every customWeighting.yaml entry (as edition SLOs rank below
                # perf-thresholds.yaml); it was already looked up for this edition.
                overrides.append(WeightOverride(source="edition.config.json", **given))
        if self.weighting is not None:
            for entry in self.weighting.matching(module_id, edition_id, test_type):
                overrides.append(
                    WeightOverride(
                        module_id=entry.module_id,
                        edition_id=entry.edition_id,
                        test_type=entry.test_type,
                        source=self.weighting_source,
                        **entry.weights.given(),
                    )
                )
        return resolve_weights(overrides, module_id, edition_id, test_type or "load")
