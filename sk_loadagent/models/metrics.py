"""perf-metrics.json (spec cycles 4, 7, 15 and 16): the core result of a test and of a suite."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sk_loadagent.models._base import OpenWireModel, Timestamp, WireModel
from sk_loadagent.models.durations import Duration
from sk_loadagent.models.trace_summary import CallPath, TraceSummary

Status = Literal["pass", "warning", "degraded", "fail"]
STATUS_ORDER: dict[str, int] = {"pass": 0, "warning": 1, "degraded": 2, "fail": 3}
# Statuses other agents write (spec cycles 1 and 18); we read them but never emit them.
AnyStatus = Literal["pass", "warning", "degraded", "fail", "needs-review", "needs-optimization"]


def worse(a: Status, b: Status) -> Status:
    return a if STATUS_ORDER[a] >= STATUS_ORDER[b] else b


class LatencySummary(WireModel):
    """Latency percentiles in milliseconds, computed from the samples of the measured phase."""

    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    min: float | None = None
    mean: float | None = None


class Interval(WireModel):
    """A confidence interval of a relative change, spelled like the delta (``"+12%"``)."""

    low: str
    high: str
    level: float = 0.95


class MetricDelta(WireModel):
    """The change of one metric against the baseline and whether it counts as a regression."""

    baseline: float | None = None
    current: float | None = None
    delta: str | None = None
    interval: Interval | None = None
    regressed: bool = False
    confidence: float | None = None


class ChangePointMark(WireModel):
    """A change point in a series' stored p95s: where the new regime starts, how large and how sure it is."""

    index: int = Field(description="position in the analysed p95 history, oldest first (first run after)")
    run_id_before: str | None = Field(default=None, description="the last run of the old regime")
    trace_id_before: str | None = None
    run_id_after: str | None = Field(default=None, description="the first run of the new regime")
    trace_id_after: str | None = None
    p95_before: float = Field(description="mean p95 (ms) of the segment before, up to the previous change")
    p95_after: float = Field(description="mean p95 (ms) of the segment after, up to the next change")
    rel_change: str | None = Field(default=None, description='after/before − 1, "+12%"; None from a 0 mean')
    magnitude: float = Field(description="|after − before| over the larger of the two: the merge rule's size")
    p_value: float = Field(description="the permutation test's p in the round that found it")


class BaselineComparison(OpenWireModel):
    """How this run compares with the last validated run of the same scope (spec cycles 4, 8 and 17)."""

    p95_latency_baseline: float | None = None
    p95_current: float | None = None
    delta_latency_p95: str | None = None
    delta_latency_p95_interval: Interval | None = None
    regressed: bool | None = None
    confidence: float | None = None
    status: AnyStatus | None = None
    method: str | None = None
    baseline_trace_id: str | None = None
    baseline_run_id: str | None = None
    baseline_score: float | None = None
    baseline_status: AnyStatus | None = None
    score_delta: float | None = None
    improvement_confidence: float | None = Field(
        default=None, description="probability that p95 is lower than the baseline's (baseline promotion)"
    )
    exploratory: bool | None = None
    metrics: dict[str, MetricDelta] | None = None
    change_points: list[int] | None = None
    change_point_details: list[ChangePointMark] | None = None
    flaky_history: bool | None = None
    baseline_obsolete: bool | None = None
    edition_deviation: dict[str, str] | None = None
    previous_run_id: str | None = Field(
        default=None, description="the latest stored run of the series (cycle 11 score/status rule)"
    )
    previous_score: float | None = None
    previous_status: AnyStatus | None = None
    moved_steps: list[str] | None = Field(
        default=None, description="a flow: the steps whose p95 rose most against their own baselines, in ms"
    )
    notes: list[str] | None = None


class ScoreComponents(WireModel):
    latency_score: float
    throughput_score: float
    error_rate_score: float
    resource_utilization_score: float | None = Field(
        default=None, description="absent when nothing measured the target's resources (not in the score)"
    )
    baseline_delta_score: float


class ScoreWeights(WireModel):
    latency: float = 0.35
    throughput: float = 0.25
    error_rate: float = 0.20
    resource_utilization: float = 0.10
    baseline_delta: float = 0.10


class EffectiveLimit(WireModel):
    """One limit that applied to the run and the source that set it."""

    metric: str
    limit: float
    source: str


class Violation(WireModel):
    """A limit the run broke, by how much, and how serious that is (``step``: a flow step's own limit)."""

    metric: str
    limit: float
    observed: float
    severity: Literal["minor", "significant"]
    source: str
    message: str
    step: str | None = None


class GeneratorStats(WireModel):
    """What the load generator itself did, so a saturated generator is not mistaken for a slow system."""

    requests: int
    cpu_seconds: float
    cpu_pct: float
    late_starts: int
    dropped: int
    workers: int
    transport: str | None = None
    max_in_flight: int | None = None
    connections_opened: int | None = None
    tls_sessions_resumed: int | None = Field(
        default=None, description="https:// only: connections whose TLS handshake resumed a session"
    )
    late_threshold_ms: float | None = None
    saturated: bool | None = None


class NodeGenerator(WireModel):
    """One node of a distributed run (--cluster): its workers' generator figures and its clock."""

    node: str
    address: str
    workers: list[int] = Field(description="the shares of the schedule (worker indices) it ran")
    generator: GeneratorStats | None = Field(default=None, description="None when the node was lost")
    clock_offset_ms: float = Field(description="the node's clock minus the driver's at the start barrier")
    round_trip_ms: float = Field(description="of the clock probe: the offset is known to within half of it")
    lost: str | None = Field(default=None, description="why its share is missing (--tolerate-node-loss)")


class ClusterRun(WireModel):
    """A run whose workers ran as Ray actors across a cluster's nodes."""

    nodes: list[NodeGenerator]
    missing_share: float = Field(
        default=0.0, description="the share of the schedule lost with its nodes (in no figure)"
    )


class MeasurementInfo(WireModel):
    """Where the figures come from: raw samples (exact) or log-bucketed histograms (bounded error)."""

    source: Literal["samples", "histogram"]
    samples: int
    sample_budget: int
    relative_error: float
    timed_from: Literal["intended-start", "actual-send"] = "intended-start"
    generated_by: str | None = Field(
        default=None, description="k6 or locust when a bridged test's tool generated the load (None: ours)"
    )
    approximate: str | None = Field(
        default=None, description="why the percentiles are approximate (the tool gave no raw samples)"
    )


class ResourceUsage(WireModel):
    """Target process resources sampled with psutil during the measured phase."""

    pid: int | None = None
    samples: int = 0
    cpu_avg_pct: float | None = None
    cpu_peak_pct: float | None = None
    memory_avg_mb: float | None = None
    memory_peak_mb: float | None = None
    memory_slope_mb_per_min: float | None = None
    cpu_high_seconds: float | None = Field(
        default=None, description="the longest stretch with CPU above 80 % of quota, in seconds"
    )
    cpu_quota_cores: float | None = None
    note: str | None = None
    source: str | None = Field(default=None, description="psutil (a local pid) or the scraped Prometheus URL")


class TimelinePoint(WireModel):
    """One second (or window) of the run."""

    t: float
    rps: float
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    errors: int = 0
    in_flight: int = 0
    phase: str | None = None


class PhaseSummary(WireModel):
    name: str
    start: float
    end: float
    measured: bool
    target_rps: float | None = None
    target_vus: int | None = None
    requests: int = 0
    rps: float | None = None
    latency: LatencySummary | None = None
    error_rate: float | None = None


class SpikeReport(WireModel):
    baseline_rps: float
    peak_rps: float
    baseline_latency_ms: float | None = None
    spike_latency_ms: float | None = None
    recovery_time_ms: float | None = None
    recovered: bool
    recovery_criterion: str


class SoakWindow(WireModel):
    start: float
    end: float
    p95: float | None = None
    rps: float
    error_rate: float
    memory_mb: float | None = None


class SoakReport(WireModel):
    window: Duration
    windows: list[SoakWindow]
    latency_slope_ms_per_min: float | None = None
    latency_slope_p_value: float | None = None
    memory_slope_mb_per_min: float | None = None
    memory_slope_p_value: float | None = None
    degrading: bool
    verdict: str


class StressStep(WireModel):
    rps: float
    achieved_rps: float
    p95: float | None = None
    error_rate: float
    held: bool
    reason: str | None = None
    seconds: float | None = Field(default=None, description="how long the step ran")
    latency_growth: float | None = Field(
        default=None, description="slope of the step's median latency, seconds per second (queue growth)"
    )
    probe: bool | None = Field(default=None, description="a probe of the search after the coarse steps")


class StressReport(WireModel):
    steps: list[StressStep]
    breaking_point_rps: float | None = None
    first_failed_rps: float | None = None
    failure_mode: str | None = None
    design_limit_rps: float | None = None


class PayloadLatency(WireModel):
    size_bytes: int
    requests: int
    latency: LatencySummary
    error_rate: float


class CheckResult(WireModel):
    """How often one check of a flow step passed and failed (measured phases)."""

    name: str
    passed: int
    failed: int


class DepthFigures(WireModel):
    """One queue's or stream's depth, sampled during the run (every 0.5 s)."""

    name: str
    samples: int
    max: float | None = None
    mean: float | None = None
    last: float | None = None
    series: list[list[float]] | None = Field(
        default=None, description="[seconds from the start, depth] of the measured phases (at most 240)"
    )


class CountFigures(WireModel):
    """A count per unit of work (polls per job, messages per stream) over those that began in the measured
    phases: how many units, the total, the mean and the largest."""

    units: int
    total: int
    mean: float | None = None
    max: int | None = None


class SurfaceFigures(WireModel):
    """A surface's own figures (cycle 13), over the measured phases. The test's latency is the end-to-end
    processing lag (brokers: intended publish to the correlated output message) or the round trip (WebSocket:
    intended send to the correlated reply); beside it the figures of its kind (counts over the whole run)."""

    kind: str = Field(description="websocket, grpc, amqp, nats, redis, webhook or job")
    target: str = Field(description="notifications.in>notifications.out, or the WebSocket path")
    lag_from: str = Field(
        description="where the latency is timed from: intended-publish, -send, -call, -trigger or -submit; "
        "step-due for a flow step's surface (the step's latency runs from the moment it was due)"
    )
    # brokers
    time_to_ack: LatencySummary | None = Field(
        default=None, description="publish to the broker's ack (confirm, JetStream ack, XADD reply)"
    )
    acks: int | None = None
    published: int | None = None
    received: int | None = Field(default=None, description="correlated output messages")
    dead_letters: int | None = Field(
        default=None, description="messages on the dead-letter output (each an error)"
    )
    publish_failed: int | None = None
    depth: list[DepthFigures] | None = None
    # WebSocket
    connect_time: LatencySummary | None = Field(default=None, description="TCP, TLS and opening handshake")
    connects: int | None = Field(default=None, description="sessions opened (churn included)")
    reconnects: int | None = Field(default=None, description="sessions opened to replace one that broke")
    closed_by_peer: int | None = None
    connect_failures: int | None = None
    lost: int | None = Field(
        default=None, description="messages without their reply (timed out or cut at the end)"
    )
    push_latency: LatencySummary | None = Field(
        default=None, description="a pushed message's publish-side timestamp to its receipt"
    )
    pushes: int | None = None
    # gRPC
    stream_messages: CountFigures | None = Field(default=None, description="messages per server stream")
    message_gap: LatencySummary | None = Field(default=None, description="between two messages of a stream")
    # webhook
    trigger_time: LatencySummary | None = Field(default=None, description="the trigger request's round trip")
    triggered: int | None = None
    delivered: int | None = Field(default=None, description="first deliveries to a call's receiver URL")
    delivery_ratio: float | None = Field(default=None, description="delivered / triggered")
    retries: int | None = Field(default=None, description="repeated deliveries: the sender retried")
    retry_lag: LatencySummary | None = Field(default=None, description="first delivery to its retry")
    # job
    submit_time: LatencySummary | None = Field(default=None, description="the submit request's round trip")
    polls: CountFigures | None = Field(default=None, description="status polls per job")
    done: int | None = None
    failed: int | None = Field(
        default=None, description="jobs a failWhen condition ended (each a check error)"
    )
    # all
    unmatched: int | None = Field(
        default=None, description="messages answering no call in flight: late after its timeout, or foreign"
    )


class StepMetrics(WireModel):
    """One step of a flow, over the measured phases: every figure timed from the moment the step was due."""

    name: str
    target: str = Field(description='what the step calls: "POST /auth/login", or a client by import path')
    requests: int
    rps: float | None = Field(default=None, description="calls per second that passed (status and checks)")
    error_rate: float | None = None
    errors: dict[str, int] | None = None
    late_starts: int = 0
    latency: LatencySummary | None = None
    service_time: LatencySummary | None = None
    checks: list[CheckResult] | None = None
    latency_histogram: dict[str, Any] | None = Field(
        default=None, description="sparse LatencyHistogram of the step's latencies (histogram.py)"
    )
    thresholds: list[EffectiveLimit] | None = Field(
        default=None, description="the step's own limits (perf-thresholds.yaml scopes with step:)"
    )
    baseline: MetricDelta | None = Field(
        default=None, description="the step's p95 against its own baseline in memory"
    )
    surface: SurfaceFigures | None = Field(
        default=None, description="a step on a built-in surface: its surface's own figures (time-to-ack, ...)"
    )


class FlowFigures(WireModel):
    """A flow test's iterations (its ``requests``, ``rps`` and ``errorRate`` count iterations too)."""

    iterations: int
    completed: int = Field(description="iterations whose every step passed")
    failed: int
    iterations_per_second: float | None = Field(default=None, description="completed iterations per second")
    step_requests: int
    step_error_rate: float | None = Field(default=None, description="failed step calls / step calls")
    think_time_excluded: bool = Field(
        default=True, description="iteration latency leaves out the think time the iteration spent"
    )


class RetryInfo(WireModel):
    """Retry metadata of spec cycle 18."""

    retry_attempt: int
    original_status: Status | None = None
    original_score: float | None = Field(default=None, ge=0, le=1)
    trigger: str | None = None
    strategy: str | None = None
    adjustments: dict[str, str | float] | None = None
    reason: str | None = None
    outcome: Literal["recovered", "escalated", "unchanged", "pending"] | None = None


class PerfMetrics(OpenWireModel):
    """perf-metrics.json for one test; the suite file carries the decisive test's fields plus ``tests``."""

    trace_id: str | None = None
    module_id: str | None = None
    edition_id: str | None = None
    test_type: str | None = None
    test_index: int | None = None
    test_name: str | None = None
    endpoint: str | None = None
    method: str | None = None
    test_target: str | None = None
    performance_score: float | None = Field(default=None, ge=0, le=1)
    score_status: Status | None = Field(
        default=None, description="the band of performanceScore alone (spec cycle 15 scoreStatus)"
    )
    status: AnyStatus | None = None
    rps: float | None = Field(default=None, description="successful responses per second (expected status)")
    failed_rps: float | None = Field(
        default=None, ge=0, description="failed requests per second: error responses and connection failures"
    )
    target_rps: float | None = None
    latency: LatencySummary | None = None
    service_time: LatencySummary | None = None
    error_rate: float | None = None
    errors: dict[str, int] | None = None
    requests: int | None = None
    throughput_bytes: int | None = None
    bytes_per_request: float | None = None
    cpu_usage_pct: float | None = None
    memory_usage_mb: float | None = None
    gc_activity_count: int | None = Field(default=None, description="GC collections in the measured window")
    gc_collections_per_sec: float | None = None
    queue_depth_avg: float | None = Field(default=None, description="the target's queue depth, scraped")
    queue_depth_peak: float | None = None
    resources: ResourceUsage | None = None
    baseline_comparison: BaselineComparison | None = None
    score_components: ScoreComponents | None = None
    score_weights: ScoreWeights | None = None
    thresholds: list[EffectiveLimit] | None = None
    violations: list[Violation] | None = None
    reasons: list[str] | None = None
    regression: bool | None = None
    exploratory: bool | None = None
    infrastructure_failure: str | None = Field(
        default=None, description="why the run failed at the connection level (never a baseline)"
    )
    load_profile: str | None = Field(
        default=None, description="the load profile key: runs are compared only with runs of the same key"
    )
    excluded_from_gate: bool | None = None
    excluded_from_score: bool | None = Field(
        default=None, description="Studio excludeFromScore: reported, never the suite's decisive test"
    )
    retry_attempt: int | None = None
    retry: RetryInfo | None = None
    test_duration: Duration | None = None
    test_start_time: Timestamp | None = None
    generator: GeneratorStats | None = None
    cluster: ClusterRun | None = Field(
        default=None, description="a distributed run: a generator block per node"
    )
    measurement: MeasurementInfo | None = None
    phases: list[PhaseSummary] | None = None
    timeline: list[TimelinePoint] | None = None
    spike: SpikeReport | None = None
    soak: SoakReport | None = None
    stress: StressReport | None = None
    latency_profile: list[PayloadLatency] | None = None
    flow: FlowFigures | None = None
    steps: list[StepMetrics] | None = Field(default=None, description="a flow test's steps, in order")
    surface: SurfaceFigures | None = Field(
        default=None, description="a broker surface's time-to-ack, depth and message counts"
    )
    warnings: list[str] | None = None
    trace_summary: TraceSummary | None = Field(
        default=None, description="the service's spans of the sampled requests (an observability config)"
    )
    cpu_profile: list[CallPath] | None = Field(
        default=None, description="py-spy's CPU samples of a local target in the steady phase, by stack"
    )
    latency_histogram: dict[str, Any] | None = Field(
        default=None, description="sparse LatencyHistogram of the measured latencies (histogram.py)"
    )
    tests: list[PerfMetrics] | None = None
