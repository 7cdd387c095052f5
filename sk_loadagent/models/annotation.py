"""studio.annotation.yaml (spec cycles 3, 8, 15 and 18): what Studio reviewers tell the agent.

Each directive has a scope (``moduleId``, ``editionId``, ``testType``; left out = any) and says one or
more things: run extra test types, ignore a deviation (``ignore: [cpu]``), override or relax limits
(``thresholds``), keep a test out of the score or the CI gate, mark it exploratory, force a status
(``scoreOverride: true`` with ``overrideStatus``), retry on failure, or retry with another rate or duration.

Where directives disagree the most specific scope wins (test type > edition > module), as for
perf-thresholds.yaml. Studio may stamp its own fields on the document, which are kept; a directive's
fields are checked strictly, because a misspelt flag that is silently ignored changes a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from sk_loadagent.models._base import FieldProblem, OpenWireModel, WireModel
from sk_loadagent.models.durations import Duration
from sk_loadagent.models.metrics import Status
from sk_loadagent.models.plan import TestType
from sk_loadagent.models.thresholds import ThresholdLimits

IgnorableMetric = Literal["cpu", "memory", "latency", "rps", "errorRate", "baseline"]


class RetryWith(WireModel):
    """Cycle 18 ``retryWith``: the parameters a reviewer wants the retry to use."""

    rps: float | None = Field(default=None, gt=0)
    duration: Duration | None = None
    vus: int | None = Field(default=None, ge=1)
    warmup: Duration | None = None

    @model_validator(mode="after")
    def _something(self) -> RetryWith:
        if self.rps is None and self.duration is None and self.vus is None and self.warmup is None:
            raise ValueError("at least one of rps, duration, vus, warmup")
        if self.duration is not None and self.duration <= 0:
            raise FieldProblem("duration", "a duration greater than 0")
        return self


class AnnotationDirective(WireModel):
    """One instruction from Studio, for one scope."""

    module_id: str | None = Field(
        default=None, validation_alias=AliasChoices("moduleId", "module", "module_id")
    )
    edition_id: str | None = None
    test_type: TestType | None = None
    run: list[TestType] | None = Field(default=None, description="test types to run on this scope")
    ignore: list[IgnorableMetric] | None = Field(default=None, description="deviations not to judge")
    thresholds: ThresholdLimits | None = None
    exclude_from_score: bool | None = None
    exclude_from_gate: bool | None = None
    exploratory: bool | None = None
    score_override: bool | None = None
    override_status: Status | None = None
    retry_on_fail: bool | None = None
    retry_with: RetryWith | None = None
    reason: str | None = None
    author: str | None = None

    @model_validator(mode="after")
    def _says_something(self) -> AnnotationDirective:
        if self.score_override and self.override_status is None:
            raise FieldProblem("overrideStatus", "the status to force (pass, warning, degraded or fail)")
        if self.override_status is not None and not self.score_override:
            raise FieldProblem("scoreOverride", "true when overrideStatus is given")
        actions = (
            self.run,
            self.ignore,
            self.thresholds,
            self.exclude_from_score,
            self.exclude_from_gate,
            self.exploratory,
            self.score_override,
            self.retry_on_fail,
            self.retry_with,
        )
        if all(a is None for a in actions):
            raise ValueError(
                "a directive that does something: run, ignore, thresholds, excludeFromScore, "
                "excludeFromGate, exploratory, scoreOverride, retryOnFail or retryWith"
            )
        return self

    def matches(self, module_id: str | None, edition_id: str | None, test_type: str | None) -> bool:
        return (
            (self.module_id is None or self.module_id == module_id)
            and (self.edition_id is None or self.edition_id == edition_id)
            and (self.test_type is None or self.test_type == test_type)
        )

    @property
    def specificity(self) -> int:
        return (4 if self.test_type else 0) + (2 if self.edition_id else 0) + (1 if self.module_id else 0)


@dataclass(frozen=True)
class AnnotationFlags:
    """The flags that apply to one test after every matching directive is taken into account."""

    exclude_from_score: bool = False
    exclude_from_gate: bool = False
    exploratory: bool = False
    retry_on_fail: bool | None = None
    retry_with: RetryWith | None = None
    override_status: Status | None = None
    ignore: frozenset[str] = frozenset()
    reasons: tuple[str, ...] = ()


def _flat_limits(limits: ThresholdLimits) -> dict[str, Any]:
    """Limits with nested ``latencyMs`` moved to the flat fields (flat wins, as in ``latency_limit``)."""
    data = limits.model_dump(by_alias=False, exclude_none=True)
    for percentile, value in data.pop("latency_ms", {}).items():
        data.setdefault(f"latency_{percentile}", value)
    return data


def merge_limits(layers: Sequence[ThresholdLimits]) -> ThresholdLimits | None:
    """Merge limits given least specific first: a later layer's limit replaces an earlier one's, per limit.

    The result spells latency flat (``latencyP95``) so that no two spellings of one limit can disagree.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        flat = _flat_limits(layer)
        regression = flat.pop("regression", None)
        merged.update(flat)
        if regression:
            merged["regression"] = {**merged.get("regression", {}), **regression}
    return ThresholdLimits.model_validate(merged) if merged else None


class StudioAnnotations(OpenWireModel):
    """A studio.annotation.yaml document; its ``moduleId``/``editionId`` scope directives that set none."""

    trace_id: str | None = None
    module_id: str | None = Field(
        default=None, validation_alias=AliasChoices("moduleId", "module", "module_id")
    )
    edition_id: str | None = None
    annotations: list[AnnotationDirective] = Field(min_length=1)

    def directives(self) -> list[AnnotationDirective]:
        """Every directive with the document's scope filled in where the directive left it out."""
        return [
            d.model_copy(
                update={
                    "module_id": d.module_id or self.module_id,
                    "edition_id": d.edition_id or self.edition_id,
                }
            )
            for d in self.annotations
        ]

    def matching(
        self, module_id: str | None, edition_id: str | None, test_type: str | None
    ) -> list[AnnotationDirective]:
        """The directives that apply to a test, least specific first (later ones win)."""
        found = [d for d in self.directives() if d.matches(module_id, edition_id, test_type)]
        return sorted(found, key=lambda d: d.specificity)

    def overrides_for(
        self, module_id: str | None, edition_id: str | None, test_type: str | None
    ) -> ThresholdLimits | None:
        """The limits Studio sets for a test, merged over every matching directive; None if it sets none."""
        layers = [
            d.thresholds for d in self.matching(module_id, edition_id, test_type) if d.thresholds is not None
        ]
        return merge_limits(layers)

    def flags_for(
        self, module_id: str | None, edition_id: str | None, test_type: str | None
    ) -> AnnotationFlags:
        """Score, gate and retry flags for a test; ``ignore`` collects every matching directive's list."""
        values: dict[str, Any] = {}
        ignore: set[str] = set()
        reasons: list[str] = []
        for directive in self.matching(module_id, edition_id, test_type):
            for name in (
                "exclude_from_score",
                "exclude_from_gate",
                "exploratory",
                "retry_on_fail",
                "retry_with",
            ):
                value = getattr(directive, name)
                if value is not None:
                    values[name] = value
            if directive.score_override is not None:
                values["override_status"] = directive.override_status if directive.score_override else None
            ignore.update(directive.ignore or ())
            if directive.reason:
                reasons.append(directive.reason)
        return AnnotationFlags(**values, ignore=frozenset(ignore), reasons=tuple(reasons))

    def requested_tests(self, module_id: str | None, edition_id: str | None) -> list[TestType]:
        """Test types Studio asks to run on a module and edition (``run: [soak]``), in order, once each."""
        requested: list[TestType] = []
        for directive in self.directives():
            in_scope = (directive.module_id is None or directive.module_id == module_id) and (
                directive.edition_id is None or directive.edition_id == edition_id
            )
            if in_scope:
                requested += [t for t in directive.run or () if t not in requested]
        return requested
