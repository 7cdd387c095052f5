"""What Studio shows: studio.performance.preview.json (spec cycles 4, 11, 15, 16, 18 and 19), the
cycle 1 Studio tile (``loadTestResult`` nested) and the cycle 19 badge summary.

Beyond the spec's fields the preview carries what cycles 11, 15 and 18 say a tile shows: its colour,
the badge text after a retry ("Recovered after retry"), the status and score before the retry, the score
change against the baseline, whether the run was exploratory (no baseline) or kept out of the gate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sk_loadagent.models._base import WireModel
from sk_loadagent.models.metrics import AnyStatus

TileColor = Literal["green", "yellow", "red"]


class BadgeSummary(WireModel):
    """The cycle 19 badge summary view."""

    status: AnyStatus
    score: float | None = Field(default=None, ge=0, le=1)
    retry_attempt: int | None = Field(default=None, ge=0)
    regression: bool | None = None
    summary: str | None = None
    badge_color: TileColor | None = None


class PerformancePreview(WireModel):
    """A studio.performance.preview.json document."""

    trace_id: str | None = None
    edition_id: str | None = None
    module_id: str | None = None
    test_type: str | None = None
    performance_score: float | None = Field(default=None, ge=0, le=1)
    status: AnyStatus | None = None
    regression: bool | None = None
    tile_summary: str | None = None
    retry_attempt: int | None = Field(default=None, ge=0)
    actions: list[str] | None = None
    tags: list[str] | None = None
    tile_color: TileColor | None = None
    badge: str | None = Field(
        default=None, description='e.g. "Recovered after retry", "Escalated for review"'
    )
    badge_color: TileColor | None = None
    exploratory: bool | None = None
    excluded_from_gate: bool | None = None
    excluded_from_score: bool | None = None
    previous_status: AnyStatus | None = Field(default=None, description="status before this retry")
    previous_score: float | None = Field(default=None, ge=0, le=1, description="score before this retry")
    score_delta_vs_baseline: float | None = None
    retry_explanation: str | None = None
    hover_details: dict[str, float | str] | None = Field(
        default=None, description="score breakdown and metric deltas shown on hover"
    )
    explanation: str | None = Field(
        default=None, description="LLM-written insight into the run, from its own figures (opt-in: --explain)"
    )
    badge_summary: BadgeSummary | None = Field(default=None, description="the cycle 19 badge summary view")


class LoadTestResult(WireModel):
    """The ``loadTestResult`` block of the cycle 1 tile; latencies in ms."""

    performance_score: float | None = Field(default=None, ge=0, le=1)
    status: AnyStatus | None = None
    spike_latency_ms: float | None = Field(default=None, ge=0)
    baseline_latency_ms: float | None = Field(default=None, ge=0)
    latency_p95_ms: float | None = Field(default=None, ge=0)
    rps: float | None = Field(default=None, ge=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)


class StudioTile(WireModel):
    """The cycle 1 Studio tile summary."""

    trace_id: str | None = None
    edition_id: str | None = None
    module_id: str | None = None
    test_type: str | None = None
    load_test_result: LoadTestResult
