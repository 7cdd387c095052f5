"""observability.config.yaml (spec cycle 10): where spans, logs and metrics come from, how often the target
process is sampled, and which process that is (by pid, process name or listening port).

The sampling settings and the process selector decide what we measure, so they are checked strictly; a
signal source may carry settings of its own tool, which are kept.

``sampling`` is the share of requests that carry a *sampled* W3C traceparent (every request carries one);
``DEFAULT_SAMPLING`` when absent. ``bottleneckShare`` is the share of a request's p95 time one operation's
self time may take before trace-summary.json reports a bottleneck.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from sk_loadagent.models._base import OpenWireModel, WireModel
from sk_loadagent.models.durations import Duration

DEFAULT_SAMPLING = 0.05
DEFAULT_BOTTLENECK_SHARE = 0.5


RESOURCE_SERIES = ("cpu", "memory", "gc", "queue")


class ProcessSelector(WireModel):
    """The process to watch. With more than one given, a process must match all of them."""

    pid: int | None = Field(default=None, ge=1)
    name: str | None = Field(default=None, min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    include_children: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> ProcessSelector:
        if self.pid is None and self.name is None and self.port is None:
            raise ValueError("at least one of pid, name, port")
        return self


class SignalSource(OpenWireModel):
    """One source of spans, logs or metrics: a tool name and where to read from."""

    source: str = Field(
        min_length=1, description="e.g. opentelemetry, app-insights, prometheus, psutil, file"
    )
    url: str | None = None
    path: str | None = None
    enabled: bool | None = None
    interval: Duration | None = None
    series: dict[str, str] | None = Field(
        default=None,
        description="Prometheus: resource (cpu, memory, gc, queue) -> the series that carries it",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        from sk_loadagent.models.plan import check_base_url  # plan holds an observability block

        if value is not None:
            check_base_url(value)
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float | None) -> float | None:
        if value is not None and not 0.05 <= value <= 60:
            raise ValueError("a scrape interval between 50ms and 60s")
        return value

    @field_validator("series")
    @classmethod
    def _series(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        unknown = sorted(set(value or {}) - set(RESOURCE_SERIES))
        if unknown:
            raise ValueError(f"series keys among {', '.join(RESOURCE_SERIES)} (not {', '.join(unknown)})")
        return value

    @property
    def is_enabled(self) -> bool:
        return self.enabled is not False


class ObservabilityConfig(WireModel):
    """An observability.config.yaml document."""

    trace_id: str | None = None
    module_id: str | None = None
    process: ProcessSelector | None = None
    sampling_interval: Duration | None = None
    spans: list[SignalSource] | None = None
    logs: list[SignalSource] | None = None
    metrics: list[SignalSource] | None = None
    sampling: float | None = Field(
        default=None, ge=0, le=1, description="share of requests with a sampled traceparent (0.05 if absent)"
    )
    bottleneck_share: float | None = Field(
        default=None, gt=0, le=1, description="share of p95 request time one operation may take (0.5)"
    )
    cpu_profile: Literal["py-spy"] | None = Field(
        default=None, description="py-spy: a CPU flamegraph of a local Python target during the steady phase"
    )
    serve_metrics: str | None = Field(
        default=None,
        description="serve the run's /metrics (Prometheus) here during the run, e.g. 127.0.0.1:9469",
    )
    export_metrics: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint the run's results go to after it, e.g. http://127.0.0.1:4318",
    )

    @field_validator("export_metrics")
    @classmethod
    def _export(cls, value: str | None) -> str | None:
        from sk_loadagent.models.plan import check_base_url

        return check_base_url(value) if value is not None else None

    @field_validator("sampling_interval")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and not 0.01 <= value <= 60:
            raise ValueError("a sampling interval between 10ms and 60s")
        return value

    def interval_seconds(self, default: float = 0.25) -> float:
        """The target process's sampling interval in seconds."""
        return self.sampling_interval if self.sampling_interval is not None else default

    @property
    def sampling_ratio(self) -> float:
        return self.sampling if self.sampling is not None else DEFAULT_SAMPLING

    @property
    def bottleneck_limit(self) -> float:
        return self.bottleneck_share if self.bottleneck_share is not None else DEFAULT_BOTTLENECK_SHARE

    def sources(self, kind: str, source: str) -> list[SignalSource]:
        """The enabled ``kind`` (spans, logs, metrics) sources of one tool."""
        listed: list[SignalSource] = getattr(self, kind) or []
        return [s for s in listed if s.source == source and s.is_enabled]
