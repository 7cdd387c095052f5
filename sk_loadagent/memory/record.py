"""RunRecord: one judged test run as the memory stores keep it; SeriesKey: the series runs are compared in."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.models._base import WireModel
from sk_loadagent.models.metrics import AnyStatus, PerfMetrics
from sk_loadagent.models.trace_summary import TraceSummary
from sk_loadagent.secrets import mask_text

from .profile import load_profile_key

_KEY_FIELDS = ("edition_id", "module_id", "test_type", "endpoint", "load_profile")


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    return text or None


@dataclass(frozen=True)
class SeriesKey:
    """The series runs are compared in: the scope of spec cycles 14 and 17 (same edition, module, test type
    and endpoint) and the same load profile (``profile.load_profile_key``).

    ``None`` is a value of its own: a key without an endpoint matches only runs stored without one, and a
    key without a load profile only runs whose profile is unknown. Blank text counts as ``None`` so ``""``
    and a missing field never make two series of one.
    """

    edition_id: str | None = None
    module_id: str | None = None
    test_type: str | None = None
    endpoint: str | None = None
    load_profile: str | None = None

    def __post_init__(self) -> None:
        for name in _KEY_FIELDS:
            object.__setattr__(self, name, _blank_to_none(getattr(self, name)))

    def sort_key(self) -> tuple[tuple[bool, str], ...]:
        """Module, edition, test type, endpoint, load profile; a missing part sorts first."""
        parts = (self.module_id, self.edition_id, self.test_type, self.endpoint, self.load_profile)
        return tuple((part is not None, part or "") for part in parts)

    def to_wire(self) -> dict[str, str | None]:
        return {
            "editionId": self.edition_id,
            "moduleId": self.module_id,
            "testType": self.test_type,
            "endpoint": self.endpoint,
            "loadProfile": self.load_profile,
        }

    @property
    def scope(self) -> SeriesKey:
        """The key without its load profile: every series of one edition, module, test type and endpoint."""
        return SeriesKey(self.edition_id, self.module_id, self.test_type, self.endpoint)

    def __str__(self) -> str:
        parts = (
            ("module", self.module_id),
            ("edition", self.edition_id),
            ("testType", self.test_type),
            ("endpoint", self.endpoint),
            ("profile", self.load_profile),
        )
        return " ".join(f"{name}={value if value is not None else '-'}" for name, value in parts)


def _canonical_json(value: Any) -> Any:
    """``value`` as it reads back from JSON, every known secret masked (``sk_loadagent.secrets``: memory is
    outside the process); raises ValueError for what JSON cannot hold."""
    try:
        return json.loads(mask_text(json.dumps(value, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"JSON data (text keys, finite numbers, no objects of other types): {exc}") from None


class RunRecord(WireModel):
    """One stored run: its scope, headline figures, flags and the full perf-metrics.json of the test.

    ``runId`` and ``createdAt`` are set by ``push`` when absent. ``metrics``, ``latencyHistogram`` and
    ``scoreLog`` are kept in their JSON form, so what a store hands back equals what was pushed.
    """

    # Frozen: a record handed out by a store is history, changed only through the store's methods.
    model_config = ConfigDict(allow_inf_nan=False, frozen=True)

    run_id: str | None = Field(default=None, min_length=1, max_length=200)
    created_at: datetime | None = None
    edition_id: str | None = None
    module_id: str | None = None
    test_type: str | None = None
    endpoint: str | None = None
    load_profile: str | None = None
    trace_id: str | None = None
    status: AnyStatus | None = None
    performance_score: float | None = Field(default=None, ge=0, le=1)
    p95_latency_ms: float | None = Field(default=None, ge=0)
    p99_latency_ms: float | None = Field(default=None, ge=0)
    rps: float | None = Field(default=None, ge=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    regressed: bool = False
    is_baseline: bool = False
    baseline_obsolete: bool = False
    validated: bool = True
    infrastructure_failure: bool = False
    retry_attempt: int = Field(default=0, ge=0)
    metrics: dict[str, Any] = Field(default_factory=dict)
    latency_histogram: dict[str, Any] | None = None
    score_log: list[dict[str, Any]] = Field(default_factory=list)
    # The trace summary's self time per operation (sparse histograms) and its bottleneck: what the next run's
    # spans are compared with (``span_profile``).
    span_profile: dict[str, Any] | None = None

    @field_validator(*_KEY_FIELDS)
    @classmethod
    def _blank_key(cls, value: str | None) -> str | None:
        return _blank_to_none(value)

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        # A time without a zone is taken as UTC: stores order runs by this field.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("metrics", "score_log")
    @classmethod
    def _json_data(cls, value: Any) -> Any:
        return _canonical_json(value)

    @field_validator("latency_histogram")
    @classmethod
    def _sparse_histogram(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        data = _canonical_json(value)
        try:
            LatencyHistogram.from_sparse(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a sparse latency histogram (LatencyHistogram.to_sparse()): {exc}") from None
        return dict(data)

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.edition_id, self.module_id, self.test_type, self.endpoint, self.load_profile)

    def histogram(self) -> LatencyHistogram | None:
        """The stored latency histogram, ready to merge or compare."""
        return (
            None if self.latency_histogram is None else LatencyHistogram.from_sparse(self.latency_histogram)
        )

    @classmethod
    def from_metrics(
        cls,
        metrics: PerfMetrics,
        *,
        histogram: LatencyHistogram | None = None,
        score_log: Sequence[Mapping[str, Any]] = (),
        validated: bool = True,
        is_baseline: bool = False,
    ) -> RunRecord:
        """The record of one test's perf-metrics.json; the histogram defaults to the one in ``metrics``, the
        load profile to ``loadProfile`` or, when unset, the key derived from the metrics."""
        latency = metrics.latency
        comparison = metrics.baseline_comparison
        retry_attempt = metrics.retry_attempt
        if retry_attempt is None and metrics.retry is not None:
            retry_attempt = metrics.retry.retry_attempt
        sparse = histogram.to_sparse() if histogram is not None else metrics.latency_histogram
        return cls(
            edition_id=metrics.edition_id,
            module_id=metrics.module_id,
            test_type=metrics.test_type,
            endpoint=metrics.endpoint,
            load_profile=metrics.load_profile or load_profile_key(metrics),
            trace_id=metrics.trace_id,
            status=metrics.status,
            performance_score=metrics.performance_score,
            p95_latency_ms=latency.p95 if latency is not None else None,
            p99_latency_ms=latency.p99 if latency is not None else None,
            rps=metrics.rps,
            error_rate=metrics.error_rate,
            regressed=bool(comparison is not None and comparison.regressed),
            is_baseline=is_baseline,
            validated=validated,
            infrastructure_failure=metrics.infrastructure_failure is not None,
            retry_attempt=retry_attempt or 0,
            metrics=metrics.to_wire(),
            latency_histogram=sparse,
            score_log=[dict(line) for line in score_log],
            span_profile=span_profile(metrics.trace_summary),
        )


def span_profile(summary: TraceSummary | None) -> dict[str, Any] | None:
    """What memory keeps of a trace summary to compare the next run's spans with: each operation's
    self-time histogram and the bottleneck (None without operations)."""
    if summary is None or not summary.operations:
        return None
    b = summary.bottleneck
    return {
        "bottleneck": {"service": b.service, "name": b.name} if b is not None else None,
        "operations": [
            {"service": op.service, "name": op.name, "selfHistogram": op.self_histogram}
            for op in summary.operations
            if op.self_histogram
        ],
    }
