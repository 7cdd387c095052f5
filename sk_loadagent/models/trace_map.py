"""load-trace-map.yaml (spec cycles 4 and 16): each endpoint or event tested, with its result metrics.

The spec spells an entry two ways: cycle 4 writes ``result`` and ``p95LatencyMs``, cycle 16 writes
``status`` and ``latencyP95``. Decision: the cycle 16 spelling is canonical and is the only one we write
(``TraceMapEntry.from_metrics`` and ``canonical()``); the cycle 4 spelling is read as it is and kept as
given, so a file in either form loads and is written back unchanged. ``outcome()`` and ``p95()`` answer
whichever spelling an entry used; an entry that gives both spellings of one figure must agree with itself.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from sk_loadagent.models._base import FieldProblem, WireModel
from sk_loadagent.models.metrics import AnyStatus, PerfMetrics, RetryInfo


class TraceMapEntry(WireModel):
    """One tested endpoint (or event target) and its figures; latencies in ms."""

    endpoint: str | None = None
    method: str | None = None
    test_type: str | None = None
    test_name: str | None = None
    status: AnyStatus | None = None
    result: AnyStatus | None = Field(default=None, description="cycle 4 spelling of status (read only)")
    latency_p50: float | None = Field(default=None, ge=0)
    latency_p95: float | None = Field(default=None, ge=0)
    latency_p99: float | None = Field(default=None, ge=0)
    p95_latency_ms: float | None = Field(default=None, ge=0, description="cycle 4 spelling of latencyP95")
    error_rate: float | None = Field(default=None, ge=0, le=1)
    rps: float | None = Field(default=None, ge=0)
    requests: int | None = Field(default=None, ge=0)
    performance_score: float | None = Field(default=None, ge=0, le=1)
    retry_attempt: int | None = Field(default=None, ge=0, description="cycle 18 artifact tagging")
    retry: RetryInfo | None = Field(
        default=None, description="cycle 18 retry metadata: attempt, trigger, strategy, adjustments, outcome"
    )
    flow: str | None = Field(default=None, description="a flow step's entry: the flow (test) it belongs to")
    step: str | None = Field(default=None, description="a flow step's entry: the step's name")

    @model_validator(mode="after")
    def _spellings_agree(self) -> TraceMapEntry:
        if self.status is not None and self.result is not None and self.status != self.result:
            raise FieldProblem("result", f"the same value as status ({self.status}) when both are given")
        if (
            self.latency_p95 is not None
            and self.p95_latency_ms is not None
            and not math.isclose(self.latency_p95, self.p95_latency_ms)
        ):
            raise FieldProblem(
                "p95LatencyMs", f"the same value as latencyP95 ({self.latency_p95:g}) when both are given"
            )
        return self

    def outcome(self) -> AnyStatus | None:
        return self.status if self.status is not None else self.result

    def p95(self) -> float | None:
        return self.latency_p95 if self.latency_p95 is not None else self.p95_latency_ms

    def canonical(self) -> TraceMapEntry:
        """The same entry in the cycle 16 spelling only."""
        fields = self.model_dump(by_alias=False, exclude_unset=True, exclude={"result", "p95_latency_ms"})
        if self.outcome() is not None:
            fields["status"] = self.outcome()
        if self.p95() is not None:
            fields["latency_p95"] = self.p95()
        return TraceMapEntry.model_validate(fields)

    @classmethod
    def from_metrics(cls, metrics: PerfMetrics) -> TraceMapEntry:
        """The entry for one test's perf-metrics, in the canonical spelling."""
        latency = metrics.latency
        fields = {
            "endpoint": metrics.endpoint or metrics.test_target,
            "method": metrics.method,
            "test_type": metrics.test_type,
            "test_name": metrics.test_name,
            "status": metrics.status,
            "latency_p50": latency.p50 if latency else None,
            "latency_p95": latency.p95 if latency else None,
            "latency_p99": latency.p99 if latency else None,
            "error_rate": metrics.error_rate,
            "rps": metrics.rps,
            "requests": metrics.requests,
            "performance_score": metrics.performance_score,
            "retry_attempt": metrics.retry_attempt or None,
            "retry": metrics.retry,
        }
        return cls.model_validate({name: value for name, value in fields.items() if value is not None})


class LoadTraceMap(WireModel):
    """A load-trace-map.yaml document."""

    trace_id: str | None = None
    edition_id: str | None = None
    module_id: str | None = None
    tests: list[TraceMapEntry] = Field(default_factory=list)

    @classmethod
    def from_metrics(cls, runs: list[PerfMetrics]) -> LoadTraceMap:
        """The map of a suite's tests; the scope comes from the first run that names it."""
        scope = {
            "trace_id": next((m.trace_id for m in runs if m.trace_id), None),
            "edition_id": next((m.edition_id for m in runs if m.edition_id), None),
            "module_id": next((m.module_id for m in runs if m.module_id), None),
        }
        fields = {name: value for name, value in scope.items() if value is not None}
        return cls.model_validate({**fields, "tests": [TraceMapEntry.from_metrics(m) for m in runs]})
