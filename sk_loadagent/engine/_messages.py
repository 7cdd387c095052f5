"""What workers and the parent tell each other (plain picklable dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sk_loadagent.engine._profile import LoadProfile
from sk_loadagent.engine._recorder import PhaseTally
from sk_loadagent.engine._transports.base import Transport
from sk_loadagent.engine.result import Samples, StepTally, Window
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.measurements import SurfaceMeasurements


@dataclass(frozen=True)
class WorkerSpec:
    """One worker's share of a run."""

    profile: LoadProfile
    transport: str | Transport
    worker: int
    workers: int
    max_connections: int
    queue_limit: int
    warm_connections: int
    sample_budget: int
    window_seconds: float
    late_threshold: float
    progress_interval: float
    stress_phases: tuple[int, ...] = ()
    in_process: bool = False  # then CPU is the engine thread's (the caller's process does other work too)


@dataclass
class ProgressPart:
    """One worker's last progress interval (``seq`` counts intervals from t0)."""

    seq: int
    seconds: float  # how long the interval was (the last one is usually shorter)
    responses: int
    requests: int
    errors: int
    late: int
    in_flight: int
    latency: LatencyHistogram


@dataclass
class StepReport:
    """One worker's view of a finished stress step; ``ages``: how long its unfinished requests have waited."""

    phase: int
    requests: int
    errors: int
    responses: int
    latency: LatencyHistogram
    timeouts: int
    ages: list[float]

    @property
    def final(self) -> bool:
        return not self.ages


@dataclass
class WorkerOutput:
    """Everything one worker measured."""

    worker: int
    samples: Samples
    complete: bool
    windows: list[Window]
    tallies: list[PhaseTally]
    cpu_by_phase: list[float]
    transport: str
    connections_opened: int
    cut_at_end: int
    requests: int
    responses: int
    connect_failures: int
    tls_failures: dict[str, int] = field(default_factory=dict)  # failed handshakes by reason
    tls_resumed: int = 0  # connections that resumed a TLS session
    warnings: list[str] = field(default_factory=list)
    # A flow: each step's tally per phase, the step calls kept as raw samples (while within the budget),
    # what users' clients raised (message -> count) and, when unique data ran out, (iterations, at seconds).
    step_tallies: list[list[StepTally]] = field(default_factory=list)
    step_samples: Samples | None = None
    step_complete: bool = True
    client_errors: dict[str, int] = field(default_factory=dict)
    data_out: tuple[int, float] | None = None
    surface: SurfaceMeasurements | None = None  # a broker surface's time-to-ack, depth and counts
    step_surfaces: dict[int, SurfaceMeasurements] = field(default_factory=dict)  # a flow's, by step index
    # Sampled requests with a response: (trace id hex, start from t0, latency), seconds (RunResult.traced).
    traced: list[tuple[str, float, float]] = field(default_factory=list)
