"""LoadProfile: one plan test turned into everything a run needs, validated and able to describe itself."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from sk_loadagent.engine._executors import ExecutorConfig
from sk_loadagent.engine._flow import FlowPlan
from sk_loadagent.engine._proxy import redact
from sk_loadagent.engine._trace import TraceContext
from sk_loadagent.engine.result import Phase
from sk_loadagent.models._base import WireModel
from sk_loadagent.models.durations import format_duration
from sk_loadagent.models.plan import HttpMethod, TestType, TlsOptions

ProfileTransport = Literal["auto", "fast", "httpx"]


class StressRule(WireModel):
    """When a stress step has broken (p95 above the SLO, too many errors, or too little throughput), and
    the search for the capacity that follows the steps: probes of ``probe_seconds`` while the test's
    ``budget_seconds`` (steps included) has room, until the bracket is within ``precision`` of its top."""

    model_config = ConfigDict(frozen=True)

    slo_p95_ms: float | None = Field(default=None, gt=0)
    error_ceiling: float = Field(default=0.05, gt=0, le=1)
    min_achieved_ratio: float = Field(default=0.9, gt=0, le=1)
    probe_seconds: float | None = Field(default=None, gt=0)
    budget_seconds: float | None = Field(default=None, gt=0)
    precision: float = Field(default=0.05, gt=0, lt=1)

    def describe(self) -> str:
        rules = []
        if self.slo_p95_ms is not None:
            rules.append(f"p95 > {self.slo_p95_ms:g} ms")
        rules.append(f"error rate > {self.error_ceiling * 100:g} %")
        rules.append(f"achieved < {self.min_achieved_ratio * 100:g} % of the offered rate")
        text = "stop at the first step with " + ", ".join(rules[:-1]) + " or " + rules[-1]
        if self.probe_seconds is not None and self.budget_seconds is not None:
            text += (
                f"; then bisect between the last rate that held and the first that broke with "
                f"{format_duration(self.probe_seconds)} probes, to within {self.precision * 100:g} %, "
                f"{format_duration(self.budget_seconds)} in all"
            )
        return text


_SURFACE_UNITS = {"grpc": "calls", "webhook": "triggers", "job": "jobs"}  # else messages


class LoadProfile(WireModel):
    """A validated, self-describing load profile (build it with ``build_profile``)."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=False, arbitrary_types_allowed=True)

    test_type: TestType
    name: str
    url: str
    method: HttpMethod | None = None  # None for a flow (each step has its own)
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    payload_sizes: list[int] = Field(default_factory=list)
    executor: ExecutorConfig
    timeout: float = Field(gt=0)
    expect_status: list[int] | None = None
    max_connections: int = Field(ge=1)
    transport: ProfileTransport = "auto"
    http2: bool = False
    tls: TlsOptions | None = None  # set for an https:// URL (the defaults verify against the system's CAs)
    proxy: str | None = None
    stress: StressRule | None = None
    soak_window: float | None = Field(default=None, gt=0)
    flow: FlowPlan | None = None  # a flow test: its steps replace method, headers and body
    trace: TraceContext | None = None  # W3C trace context on every request (an observability config)

    @property
    def in_flight_grace(self) -> float:
        """How long past the schedule's end what is still in flight may take: a request its timeout; a flow
        iteration every step's timeout and think time."""
        return self.flow.iteration_bound(self.timeout) if self.flow is not None else self.timeout

    @property
    def model(self) -> Literal["open", "closed"]:
        return self.executor.model

    @property
    def phases(self) -> list[Phase]:
        """The phases on the intended schedule (seconds from the run's start)."""
        return self.executor.phases(self.payload_sizes)

    @property
    def total_duration(self) -> float:
        return self.executor.total_duration

    @property
    def load_seconds(self) -> float:
        """How long the test sends load: its schedule, or a stress test's whole duration (steps and the
        probes after them, each probe a run of its own)."""
        if self.stress is not None and self.stress.budget_seconds is not None:
            return self.stress.budget_seconds
        return self.total_duration

    @property
    def think_time(self) -> float:
        return float(getattr(self.executor, "think_time", 0.0))

    def describe(self) -> str:
        """For humans, k6 style: ``open model: ramp 0→100 rps over 30s, hold 100 rps for 5m (measured)``."""
        schedule = self._describe_steps() if self.stress is not None else None
        text = f"{self.model} model: {schedule or self.executor.describe(self.payload_sizes)}"
        surface = self.flow.step_names[0] if self.flow is not None and self.flow.surface is not None else None
        if self.flow is not None and self.flow.surface is not None:
            unit = _SURFACE_UNITS.get(str(surface), "messages")
            text = text.replace(" rps", f" {unit}/s") if self.model == "open" else text
            text += f"; {surface} {self.flow.surface.target()} (one worker)"
        elif self.flow is not None:
            names = ", ".join(self.flow.step_names)
            unit = "iterations"
            text = text.replace(" rps", f" {unit}/s") if self.model == "open" else text
            text += f"; a flow of {len(self.flow.steps)} steps ({names})"
            if self.flow.data is not None:
                text += f" reading {len(self.flow.data.rows):,} rows ({self.flow.data.mode})"
        if self.model == "closed":
            if self.think_time > 0:
                text += f"; think time {format_duration(self.think_time)}"
            text += f"; timeout {format_duration(self.timeout)}"
            text += "" if surface not in (None, "websocket") else "; one connection per VU"
        elif surface not in (None, "websocket"):  # brokers and gRPC: one connection; webhooks, jobs: a pool
            text += f"; timeout {format_duration(self.timeout)}"
        else:
            text += f"; timeout {format_duration(self.timeout)}; ≤ {self.max_connections} connections"
        if self.soak_window is not None:
            text += f"; trend windows of {format_duration(self.soak_window)}"
        if self.stress is not None:
            text += f"; {self.stress.describe()}"
        if self.proxy is not None:
            text += f"; through the proxy {redact(self.proxy)}"
        return text

    def _describe_steps(self) -> str | None:
        """``step 25→200 rps by 25 rps every 10s (8 steps, each measured)`` instead of one clause per step."""
        phases = self.phases
        steps = [p for p in phases if p.name.startswith("step-")]
        if len(steps) < 2 or not all(p.target_rps is not None for p in steps):
            return None
        rates = [float(p.target_rps or 0.0) for p in steps]
        lead = [p for p in phases if not p.name.startswith("step-")]
        text = (
            f"step {rates[0]:g}→{rates[-1]:g} rps by {rates[1] - rates[0]:g} rps every "
            f"{format_duration(steps[0].end - steps[0].start)} ({len(steps)} steps, each measured)"
        )
        if lead:
            text = f"ramp 0→{rates[0]:g} rps over {format_duration(lead[0].end - lead[0].start)}, {text}"
        return text
