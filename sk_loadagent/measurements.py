"""What a run measured, as analysis receives it: the engine's request samples, windows and generator report,
and the target's resource samples from telemetry.

Plain data (numpy arrays and dataclasses), no statistics: analysis turns these into figures, so every
figure in an artifact can be traced back to the samples here. The module sits below engine, telemetry and
analysis and imports only numpy and the histogram, so analysis never loads the engine's HTTP clients.
``sk_loadagent.engine.result`` and ``sk_loadagent.telemetry.resources`` re-export these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from sk_loadagent.histogram import LatencyHistogram


class Outcome(IntEnum):
    """How one request ended. ``OK`` is a response whose status the test expects."""

    OK = 0
    HTTP_4XX = 1
    HTTP_5XX = 2
    TIMEOUT = 3
    CONNECT_REFUSED = 4
    RESET = 5
    PROTOCOL_ERROR = 6
    CONNECT_ERROR = 7
    UNEXPECTED_STATUS = 8  # a 1xx/2xx/3xx status the test does not list in expectStatus
    TLS = 9  # the TLS handshake failed (the reasons are counted beside, in the run's warnings)
    CHECK = 10  # a flow step's response failed one of its checks
    EXTRACT = 11  # a flow step could not extract a value (or use one an earlier step did not extract)
    CLIENT_ERROR = 12  # a user's client (a flow step's surface) raised an exception of its own
    DEAD_LETTER = 13  # a broker surface's message came back on its dead-letter output
    # A gRPC call that ended with a status other than OK: one class per status code.
    GRPC_CANCELLED = 14
    GRPC_UNKNOWN = 15
    GRPC_INVALID_ARGUMENT = 16
    GRPC_DEADLINE_EXCEEDED = 17
    GRPC_NOT_FOUND = 18
    GRPC_ALREADY_EXISTS = 19
    GRPC_PERMISSION_DENIED = 20
    GRPC_RESOURCE_EXHAUSTED = 21
    GRPC_FAILED_PRECONDITION = 22
    GRPC_ABORTED = 23
    GRPC_OUT_OF_RANGE = 24
    GRPC_UNIMPLEMENTED = 25
    GRPC_INTERNAL = 26
    GRPC_UNAVAILABLE = 27
    GRPC_DATA_LOSS = 28
    GRPC_UNAUTHENTICATED = 29


OUTCOME_NAMES: dict[int, str] = {
    Outcome.OK: "ok",
    Outcome.HTTP_4XX: "http4xx",
    Outcome.HTTP_5XX: "http5xx",
    Outcome.TIMEOUT: "timeout",
    Outcome.CONNECT_REFUSED: "connectRefused",
    Outcome.RESET: "reset",
    Outcome.PROTOCOL_ERROR: "protocolError",
    Outcome.CONNECT_ERROR: "connectError",
    Outcome.UNEXPECTED_STATUS: "unexpectedStatus",
    Outcome.TLS: "tls",
    Outcome.CHECK: "check",
    Outcome.EXTRACT: "extract",
    Outcome.CLIENT_ERROR: "clientError",
    Outcome.DEAD_LETTER: "deadLetter",
    **{
        code: "grpc" + "".join(w.capitalize() for w in code.name.removeprefix("GRPC_").split("_"))
        for code in Outcome
        if code.name.startswith("GRPC_")
    },
}


@dataclass
class Phase:
    """A stretch of the schedule. Times are seconds from the run's start (t0)."""

    name: str
    start: float
    end: float
    measured: bool
    target_rps: float | None = None
    target_vus: int | None = None
    payload_bytes: int | None = None


@dataclass
class Samples:
    """One entry per request that was sent, in parallel arrays.

    ``start`` is the request's intended start (open model) or its send time (closed model), in seconds
    from t0; ``latency`` runs from that start to the end of the response (NaN without a response);
    ``service`` runs from the actual send; ``variant`` indexes the request template (payload size).
    """

    start: npt.NDArray[np.float64]
    latency: npt.NDArray[np.float64]
    service: npt.NDArray[np.float64]
    status: npt.NDArray[np.int16]
    outcome: npt.NDArray[np.int8]
    bytes_in: npt.NDArray[np.int64]
    bytes_out: npt.NDArray[np.int64]
    variant: npt.NDArray[np.int16]

    @classmethod
    def empty(cls) -> Samples:
        return cls(
            start=np.empty(0, np.float64),
            latency=np.empty(0, np.float64),
            service=np.empty(0, np.float64),
            status=np.empty(0, np.int16),
            outcome=np.empty(0, np.int8),
            bytes_in=np.empty(0, np.int64),
            bytes_out=np.empty(0, np.int64),
            variant=np.empty(0, np.int16),
        )

    def __len__(self) -> int:
        return int(self.start.size)

    @classmethod
    def concat(cls, parts: list[Samples]) -> Samples:
        if not parts:
            return cls.empty()
        merged = cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _SAMPLE_FIELDS))
        order = np.argsort(merged.start, kind="stable")
        return merged.select(order)

    def select(self, index: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Samples:
        return Samples(*(getattr(self, f)[index] for f in _SAMPLE_FIELDS))


_SAMPLE_FIELDS = ("start", "latency", "service", "status", "outcome", "bytes_in", "bytes_out", "variant")


@dataclass
class Window:
    """Aggregates of one time window (one second by default), always kept, mergeable across workers."""

    start: float
    requests: int = 0
    outcomes: dict[int, int] = field(default_factory=dict)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    service: LatencyHistogram = field(default_factory=LatencyHistogram)
    bytes_in: int = 0
    bytes_out: int = 0
    max_in_flight: int = 0


@dataclass
class StepTally:
    """What one flow step did in one phase (by the moment each of its requests was due)."""

    requests: int = 0
    errors: int = 0
    late: int = 0
    outcomes: dict[int, int] = field(default_factory=dict)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    service: LatencyHistogram = field(default_factory=LatencyHistogram)
    bytes_in: int = 0
    bytes_out: int = 0
    checks: dict[str, list[int]] = field(default_factory=dict)  # check name -> [passed, failed]

    def merge(self, other: StepTally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.late += other.late
        for outcome, n in other.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        for name, (passed, failed) in other.checks.items():
            counts = self.checks.setdefault(name, [0, 0])
            counts[0] += passed
            counts[1] += failed


@dataclass
class StepMeasurements:
    """One step of a flow over the whole run: its requests (timed from the moment each was due) as raw
    samples while the budget lasted (``Samples.variant`` is the step's index), its tally per phase and, for
    a step on a built-in surface, what that surface measured beside its calls."""

    name: str
    target: str  # "POST /auth/login", or the client's import path for a surface step
    samples: Samples
    phases: list[StepTally]
    surface: SurfaceMeasurements | None = None


@dataclass
class SurfaceMeasurements:
    """What a surface measured beside its calls (whose latency is the end-to-end lag or the round trip).

    ``timings`` maps a figure (``timeToAck``: publish to the broker's acknowledgement; ``connectTime``: a
    WebSocket's opening handshake; ``pushLatency``: a pushed message's publish-side timestamp to its receipt)
    to parallel arrays: when it began (seconds from t0) and how long it took (seconds). ``depth`` maps a
    queue or stream to its (seconds from t0, depth) samples; ``counts`` holds the surface's message and
    connection counts (``published``, ``received``, ``deadLetters``, ``unmatched``, ``connects``, ...).
    """

    kind: str
    target: str
    timings: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = field(default_factory=dict)
    depth: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class GeneratorReport:
    """The generator's own cost and shortfalls during the measured phase."""

    requests: int
    cpu_seconds: float
    wall_seconds: float
    late_starts: int
    dropped: int
    workers: int
    transport: str
    max_in_flight: int
    connections_opened: int
    late_threshold_s: float = 0.005
    tls_resumed: int | None = None  # https:// only: connections that resumed a TLS session

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


@dataclass
class NodeReport:
    """One machine of a distributed run (``--cluster``): its workers' generator figures added up, and how
    far its clock was from the driver's when the common start time was sent."""

    node: str  # the cluster's id for the node
    address: str
    workers: list[int]  # the worker indices (shares of the schedule) it ran
    generator: GeneratorReport | None  # None when the node was lost
    clock_offset_s: float  # the node's clock minus the driver's, measured over the round trip
    round_trip_s: float  # of the best of the clock probes: the offset is known to within half of it
    lost: str | None = None  # why its share is missing (the node died or hung)


@dataclass
class RunResult:
    """Everything a run collected.

    ``samples`` holds every request when the run fit the sample budget (``complete`` True); otherwise it
    is empty and analysis works from ``windows`` (histograms with ``histogram.RELATIVE_ERROR``).
    """

    target: str
    phases: list[Phase]
    samples: Samples
    complete: bool
    windows: list[Window]
    window_seconds: float
    generator: GeneratorReport
    sample_budget: int
    started_at: float  # wall-clock (time.time()) of t0
    duration: float  # seconds from t0 to the end of the schedule
    timed_from: str = "intended-start"  # "actual-send" for closed-model (VU) executors
    variants: list[int] = field(default_factory=list)  # payload bytes per request template
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)  # executor-specific facts (e.g. stress steps)
    # A flow: its steps. Then ``samples`` and ``windows`` hold iterations (latency from the intended start to
    # the end of the last step, think time excluded; an iteration fails with its first failing step's class).
    steps: list[StepMeasurements] = field(default_factory=list)
    # Who generated the load: "engine", or the tool of a bridged test ("k6", "locust") whose raw results
    # were read into this result; ``approximate`` says why its percentiles are not exact (None: they are).
    generated_by: str = "engine"
    approximate: str | None = None
    # A distributed run: one report per node, and the share of the schedule whose node was lost
    # (``--tolerate-node-loss``; its requests are in no figure).
    nodes: list[NodeReport] = field(default_factory=list)
    missing_share: float = 0.0
    # A broker surface (amqp, nats, redis): time-to-ack, depth and message counts beside the lag.
    surface: SurfaceMeasurements | None = None
    # Sampled requests that carried a fresh traceparent and got a response: (trace id as 32 hex, intended
    # start in seconds from t0, latency in seconds), in start order.
    traced: list[tuple[str, float, float]] = field(default_factory=list)


@dataclass
class ResourceSamples:
    """CPU and memory of one process (and its children) sampled at a fixed interval.

    ``t`` is wall-clock time (``time.time()``), so it lines up with ``RunResult.started_at``;
    ``cpu_pct`` is percent of one core (top's convention: a busy two-thread process can show 200);
    ``cpu_quota_cores`` is the number of cores the service may use, to turn that into a share.
    """

    pid: int
    t: npt.NDArray[np.float64]
    cpu_pct: npt.NDArray[np.float64]
    rss_mb: npt.NDArray[np.float64]
    cpu_quota_cores: float
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.t.size)

    def between(self, start: float, end: float) -> ResourceSamples:
        """The samples taken in [start, end] (wall-clock)."""
        keep = (self.t >= start) & (self.t <= end)
        return ResourceSamples(
            self.pid,
            self.t[keep],
            self.cpu_pct[keep],
            self.rss_mb[keep],
            self.cpu_quota_cores,
            list(self.notes),
        )


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One span a service reported (OTLP), as plain values.

    Times are the service's own clock (Unix ns); spans of different hosts are compared only as durations.
    ``host`` (the resource's host.name, or its service.instance.id) tells which spans share a clock.
    ``kind``: OTLP's SpanKind (2 server, 3 client, 4 producer, 5 consumer).
    """

    trace_id: str  # 32 hex
    span_id: str  # 16 hex
    parent_id: str  # 16 hex, "" for a root
    service: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    error: bool = False
    error_message: str | None = None
    host: str | None = None

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6
