"""studio.analytics.json (spec cycles 9 and 19): what Studio charts per module and edition across builds
that doc-coverage.metrics.json does not hold: the latest tile (cycle 1) and badge summary (cycle 19), the
retry heatmap (count and outcome of retries per test type) and the regression deltas (deltaLatencyP95 per
run), kept for the latest ``DEFAULT_HISTORY`` runs.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, model_validator

from sk_loadagent.models._base import FieldProblem, Timestamp, WireModel
from sk_loadagent.models.doc_coverage import DEFAULT_HISTORY
from sk_loadagent.models.metrics import AnyStatus
from sk_loadagent.models.preview import BadgeSummary, StudioTile


class RetryCell(WireModel):
    """One cell of the retry heatmap: the runs of a test type and how their retries ended."""

    test_type: str = Field(min_length=1)
    runs: int = Field(default=0, ge=0)
    retried: int = Field(default=0, ge=0, description="runs with at least one retry")
    retries: int = Field(default=0, ge=0, description="retry attempts in all")
    recovered: int = Field(default=0, ge=0)
    escalated: int = Field(default=0, ge=0)


class RegressionDelta(WireModel):
    """One test of one run against its baseline (no entry without a baseline)."""

    trace_id: str | None = None
    test_type: str | None = None
    endpoint: str | None = None
    at: Timestamp | None = None
    delta_latency_p95: str | None = None
    regressed: bool = False
    status: AnyStatus | None = None


class ScopeAnalytics(WireModel):
    """Everything Studio charts for one module in one edition."""

    module_id: str = Field(min_length=1)
    edition_id: str | None = None
    tile: StudioTile | None = None
    badge: BadgeSummary | None = None
    retry_heatmap: list[RetryCell] = Field(default_factory=list)
    regression_deltas: list[RegressionDelta] = Field(default_factory=list)


class StudioAnalytics(WireModel):
    """A studio.analytics.json document."""

    updated_at: Timestamp | None = None
    scopes: list[ScopeAnalytics] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_entry_per_scope(self) -> StudioAnalytics:
        seen = [(s.module_id, s.edition_id) for s in self.scopes]
        for scope in seen:
            if seen.count(scope) > 1:
                raise FieldProblem(
                    "scopes", f"one entry per module and edition ({scope[0]}/{scope[1] or '*'})"
                )
        return self

    def scope(self, module_id: str, edition_id: str | None) -> ScopeAnalytics | None:
        return next((s for s in self.scopes if s.module_id == module_id and s.edition_id == edition_id), None)

    def with_scope(self, updated: ScopeAnalytics, at: datetime | None) -> StudioAnalytics:
        """A copy with ``updated`` replacing the entry of its module and edition (or added)."""
        existing = self.scope(updated.module_id, updated.edition_id)
        scopes = [updated if s is existing else s for s in self.scopes]
        if existing is None:
            scopes.append(updated)
        return StudioAnalytics(updated_at=at or self.updated_at, scopes=scopes)


__all__ = ["DEFAULT_HISTORY", "RegressionDelta", "RetryCell", "ScopeAnalytics", "StudioAnalytics"]
