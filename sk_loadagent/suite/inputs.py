"""Every input file of spec cycle 3, loaded and validated in one place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sk_loadagent.errors import InputError
from sk_loadagent.models.annotation import AnnotationFlags, StudioAnnotations
from sk_loadagent.models.baseline import PerfBaseline
from sk_loadagent.models.caps import Caps
from sk_loadagent.models.edition import EditionConfig
from sk_loadagent.models.loading import load_document, read_document, validate_document
from sk_loadagent.models.metadata import ServiceMetadata
from sk_loadagent.models.observability import ObservabilityConfig
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.models.thresholds import PerfThresholds
from sk_loadagent.models.trace_plan import TracePlan
from sk_loadagent.models.weighting import CustomWeighting
from sk_loadagent.suite.sources import Sources
from sk_loadagent.suite.trace_flows import flow_tests


@dataclass
class SuiteInputs:
    plan: TestSuitePlan
    plan_source: str = "test-suite.plan.yaml"
    thresholds: list[tuple[str, PerfThresholds]] = field(default_factory=list)
    metadata: ServiceMetadata | None = None
    editions: EditionConfig | None = None
    annotations: StudioAnnotations | None = None
    weighting: CustomWeighting | None = None
    baselines: list[PerfBaseline] = field(default_factory=list)

    weighting_source: str = "customWeighting.yaml"
    # --observability FILE, else the plan's observability block (then its source is the plan's)
    observability: ObservabilityConfig | None = None
    observability_source: str | None = None
    # Per test of the plan (by index): what the agent says about how it was made (a trace plan's flows).
    notes: dict[int, list[str]] = field(default_factory=dict)

    def sources(self) -> Sources:
        return Sources(
            thresholds=self.thresholds,
            metadata=self.metadata,
            editions=self.editions,
            annotations=self.annotations,
            weighting=self.weighting,
            weighting_source=self.weighting_source,
        )

    def flags(self, module_id: str, edition_id: str | None, test_type: str | None = None) -> AnnotationFlags:
        """Studio's flags for a test (exclusions, retry wishes); all off without an annotation file."""
        return self.sources().flags(module_id, edition_id, test_type)


def _thresholds(path: str | Path, caps: Caps | None) -> list[tuple[str, PerfThresholds]]:
    """A thresholds file holds one document or a list of them (several modules in one file)."""
    data = read_document(path, caps=caps)
    source = str(path)
    if isinstance(data, list):
        return [
            (f"{source}[{i}]", validate_document(d, PerfThresholds, f"{source}[{i}]", strict=True))
            for i, d in enumerate(data)
        ]
    if data is None:
        raise InputError.single(source, "", "a perf-thresholds document", "an empty file")
    return [(source, validate_document(data, PerfThresholds, source, strict=True))]


def _baselines(path: str | Path, caps: Caps | None) -> list[PerfBaseline]:
    data = read_document(path, caps=caps)
    source = str(path)
    items = data if isinstance(data, list) else [data]
    return [validate_document(item, PerfBaseline, source, strict=True) for item in items]


def _plan(plan: str | Path | dict[str, Any] | TestSuitePlan, caps: Caps | None) -> tuple[TestSuitePlan, str]:
    if isinstance(plan, TestSuitePlan):
        return plan, "test-suite.plan.yaml"
    if isinstance(plan, dict):
        source = "test-suite.plan.yaml"
        return validate_document(plan, TestSuitePlan, source, strict=True), source
    return load_document(plan, TestSuitePlan, caps=caps), str(plan)


def load_inputs(
    plan: str | Path | dict[str, Any] | TestSuitePlan,
    *,
    thresholds: Sequence[str | Path] = (),
    metadata: str | Path | None = None,
    editions: str | Path | None = None,
    annotations: str | Path | None = None,
    weighting: str | Path | None = None,
    baseline: str | Path | None = None,
    caps: Caps | None = None,
    trace_plan: str | Path | None = None,
    observability: str | Path | None = None,
) -> SuiteInputs:
    """Load the plan and optional inputs; InputError names the file and field of the first bad one.

    ``caps`` bounds each file (size, values once YAML aliases expand); None: the default caps.
    ``trace_plan`` (a trace.plan.yaml) adds one flow test per trace path (``suite.trace_flows``).
    ``observability`` (an observability.config.yaml) replaces the plan's ``observability`` block.
    """
    suite_plan, source = _plan(plan, caps)
    notes: dict[int, list[str]] = {}
    if trace_plan is not None:
        added = flow_tests(load_document(trace_plan, TracePlan, caps=caps), str(trace_plan))
        first = len(suite_plan.tests)
        notes = {first + i: n for i, n in enumerate(added.notes) if n}
        suite_plan = suite_plan.model_copy(update={"tests": [*suite_plan.tests, *added.tests]})
    watch, watch_source = suite_plan.observability, source
    if observability is not None:
        watch = load_document(observability, ObservabilityConfig, caps=caps)
        watch_source = str(observability)
    return SuiteInputs(
        observability=watch,
        observability_source=watch_source if watch is not None else None,
        notes=notes,
        plan=suite_plan,
        plan_source=source,
        thresholds=[item for path in thresholds for item in _thresholds(path, caps)],
        metadata=load_document(metadata, ServiceMetadata, caps=caps) if metadata else None,
        editions=load_document(editions, EditionConfig, caps=caps) if editions else None,
        annotations=load_document(annotations, StudioAnnotations, caps=caps) if annotations else None,
        weighting=load_document(weighting, CustomWeighting, caps=caps) if weighting else None,
        weighting_source=str(weighting) if weighting else "customWeighting.yaml",
        baselines=_baselines(baseline, caps) if baseline else [],
    )
