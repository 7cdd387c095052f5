"""trace-summary.json (spec cycles 10, 16 and 19): a trace's spans, its longest span and its bottleneck.

The cycle 10 example holds only the summary figures; ``spans`` (start/stop, nesting, error attribution) is
optional and, when given, must agree with ``spanCount``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, model_validator

from sk_loadagent.models._base import FieldProblem, WireModel


class Span(WireModel):
    """One span; times in ms from the start of the trace."""

    name: str = Field(min_length=1)
    span_id: str | None = None
    parent_id: str | None = None
    module_id: str | None = None
    start_ms: float = Field(ge=0)
    end_ms: float = Field(ge=0)
    error: bool | None = None
    error_message: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end_ms < self.start_ms:
            raise FieldProblem("endMs", f"a time not before startMs ({self.start_ms:g})")
        return self

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


class TraceSummary(WireModel):
    """A trace-summary.json document."""

    trace_id: str | None = None
    span_count: int | None = Field(default=None, ge=0)
    longest_span: str | None = None
    duration_ms: float | None = Field(default=None, ge=0)
    span_delta_vs_baseline: str | None = Field(default=None, description='e.g. "+25%"')
    bottleneck_detected: bool | None = None
    spans: list[Span] | None = None

    @model_validator(mode="after")
    def _count_matches(self) -> TraceSummary:
        if self.spans is not None and self.span_count is not None and self.span_count != len(self.spans):
            raise FieldProblem("spanCount", f"the number of spans listed ({len(self.spans)})")
        return self

    @classmethod
    def from_spans(
        cls,
        spans: Sequence[Span],
        *,
        trace_id: str | None = None,
        baseline_duration_ms: float | None = None,
        bottleneck_detected: bool | None = None,
    ) -> TraceSummary:
        """Summarise spans: their count, the longest, the whole trace's span and its change vs baseline."""
        fields: dict[str, object] = {"span_count": len(spans), "spans": list(spans)}
        if trace_id is not None:
            fields["trace_id"] = trace_id
        if spans:
            fields["longest_span"] = max(spans, key=lambda s: s.duration_ms).name
            duration = max(s.end_ms for s in spans) - min(s.start_ms for s in spans)
            fields["duration_ms"] = duration
            if baseline_duration_ms:
                fields["span_delta_vs_baseline"] = f"{(duration / baseline_duration_ms - 1) * 100:+.0f}%"
        if bottleneck_detected is not None:
            fields["bottleneck_detected"] = bottleneck_detected
        return cls.model_validate(fields)
