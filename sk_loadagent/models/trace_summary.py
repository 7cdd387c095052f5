"""trace-summary.json (spec cycles 10, 16 and 19): a trace's spans, its longest span and its bottleneck.

The cycle 10 example holds only the summary figures; ``spans`` (start/stop, nesting, error attribution) is
optional and, when given, must agree with ``spanCount``. A run that received its service's spans adds
``operations`` (per service and span name), the ``criticalPath`` of its p95 exemplar request, the lag of
async (messaging) spans and the ``bottleneck``; times are the service's durations in ms, never compared
across clocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


class Operation(WireModel):
    """One operation (service + span name) over the run's sampled traces."""

    service: str
    name: str
    count: int = Field(ge=0)
    p50_ms: float = Field(ge=0)
    p95_ms: float = Field(ge=0)
    self_p95_ms: float = Field(ge=0, description="p95 of the time spent in the span itself, not its children")
    share: float = Field(ge=0, le=1, description="its self time as a share of the requests' time, all traces")
    share_at_p95: float = Field(ge=0, description="self p95 / the requests' p95 (picks the bottleneck)")
    errors: int = 0
    errors_own: int = Field(default=0, description="errors that began here (no failing child span)")
    error_messages: list[str] | None = None
    self_histogram: dict[str, Any] | None = Field(
        default=None, description="self times (s) as a sparse histogram: what the next run compares against"
    )
    baseline_self_p95_ms: float | None = None
    self_delta_vs_baseline: str | None = None
    self_delta_interval: list[str] | None = None
    self_regressed: bool | None = None


class PathStep(WireModel):
    """One span on the critical path of the exemplar request (root first)."""

    service: str
    name: str
    duration_ms: float
    self_ms: float


class AsyncLag(WireModel):
    """How long messages waited between a producer span's end and its consumer span's start (same clock)."""

    service: str
    name: str
    count: int
    p50_ms: float
    p95_ms: float


class CallPath(WireModel):
    """Self time summed over every span at one call path (root first), for flamegraph.svg."""

    path: list[str] = Field(min_length=1, description='"service: span name" from the root down')
    self_ms: float = Field(ge=0)
    count: int = Field(ge=0)


class Bottleneck(WireModel):
    """The operation with the largest share of self time at p95, and why it is (or is not) reported."""

    service: str
    name: str
    share_at_p95: float
    limit: float
    over_limit: bool
    new_vs_baseline: bool
    baseline_bottleneck: str | None = None
    self_delta_vs_baseline: str | None = None


class TraceSummary(WireModel):
    """A trace-summary.json document."""

    trace_id: str | None = None
    span_count: int | None = Field(default=None, ge=0)
    longest_span: str | None = None
    duration_ms: float | None = Field(default=None, ge=0)
    span_delta_vs_baseline: str | None = Field(default=None, description='e.g. "+25%"')
    bottleneck_detected: bool | None = None
    spans: list[Span] | None = None
    test_name: str | None = None
    sampled_requests: int | None = Field(default=None, ge=0)
    traces_with_spans: int | None = Field(default=None, ge=0)
    bottleneck: Bottleneck | None = None
    operations: list[Operation] | None = None
    exemplar_trace_id: str | None = None
    exemplar_latency_ms: float | None = None
    critical_path: list[PathStep] | None = None
    async_lag: list[AsyncLag] | None = None
    call_paths: list[CallPath] | None = Field(default=None, description="self time by call path (flamegraph)")
    malformed_payloads: int | None = None
    notes: list[str] | None = None
    tests: list[TraceSummary] | None = Field(default=None, description="one summary per test, several tests")

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
