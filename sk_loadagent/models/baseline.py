"""perf-baseline.memory.json: a prior run from memory (spec cycle 3) or a memory entry (spec cycle 17).

Cycle 3 spells the baseline's p95 flat (``p95LatencyMs``) and scopes it by ``endpoint``; cycle 17 nests it
(``latency.p95``) and has no endpoint. One model reads both and keeps the spelling it was given, so a
round trip changes nothing; ``p95()`` answers whichever was used. Memory entries are written by the
Knowledge Management Agent too, so unknown fields (a whole perf-metrics.json, say) are kept.
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from sk_loadagent.models._base import FieldProblem, OpenWireModel
from sk_loadagent.models.metrics import AnyStatus, LatencySummary, PerfMetrics


class PerfBaseline(OpenWireModel):
    """One baseline run: its scope, its p95 latency in ms and its throughput, score and status."""

    trace_id: str | None = None
    module_id: str | None = None
    edition_id: str | None = None
    test_type: str | None = None
    endpoint: str | None = None
    p95_latency_ms: float | None = Field(default=None, ge=0)
    latency: LatencySummary | None = None
    rps: float | None = Field(default=None, ge=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    performance_score: float | None = Field(default=None, ge=0, le=1)
    status: AnyStatus | None = None

    @model_validator(mode="after")
    def _one_p95(self) -> PerfBaseline:
        nested = self.latency.p95 if self.latency is not None else None
        if (
            nested is not None
            and self.p95_latency_ms is not None
            and not math.isclose(nested, self.p95_latency_ms)
        ):
            raise FieldProblem(
                "p95LatencyMs", f"the same value as latency.p95 ({nested:g}) when both are given"
            )
        return self

    def p95(self) -> float | None:
        """The baseline's p95 latency in ms, whichever spelling the entry used."""
        if self.p95_latency_ms is not None:
            return self.p95_latency_ms
        return self.latency.p95 if self.latency is not None else None

    @classmethod
    def from_metrics(cls, metrics: PerfMetrics) -> PerfBaseline:
        """The memory entry for a run, in the cycle 17 form (nested latency)."""
        fields = {
            "trace_id": metrics.trace_id,
            "module_id": metrics.module_id,
            "edition_id": metrics.edition_id,
            "test_type": metrics.test_type,
            "endpoint": metrics.endpoint,
            "latency": metrics.latency,
            "rps": metrics.rps,
            "error_rate": metrics.error_rate,
            "performance_score": metrics.performance_score,
            "status": metrics.status,
        }
        return cls.model_validate({name: value for name, value in fields.items() if value is not None})
