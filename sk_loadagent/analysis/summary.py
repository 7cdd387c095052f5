"""The measured figures of one run: what perf-metrics.json reports before it is scored and judged.

``summarize`` reads a RunResult (and the target's resource samples) and fills every measured field of
PerfMetrics. The rules it follows:

- Only measured phases count (warm-up does not): ``requests`` are the requests that started in them,
  ``rps`` is successful responses (the status the test expects) per second over their total length,
  ``failedRps`` the failed requests per second beside it, ``errorRate`` is non-OK outcomes / requests.
- Latency is timed from each request's intended start; percentiles are nearest-rank over the raw samples
  when the run kept them all (``measurement.source == "samples"``, exact), else over the merged window
  histograms (``"histogram"``, each figure within ``measurement.relativeError``).
- Every per-phase, per-window, per-step and per-payload figure comes from that stretch's own requests,
  never from an average of percentiles.
- ``targetRps`` is the time-weighted target rate of the measured phases (None for closed-model runs).
- ``cpuUsagePct`` is the target's average CPU as a percentage of its CPU quota; ``memoryUsageMb`` is its
  peak RSS; both over the measured window only.
- ``testStartTime`` is the UTC start of the first measured phase; ``testDuration`` the measured seconds.
- A flow (``result.steps``): ``requests``, ``rps``, ``errorRate``, ``errors`` and the latency are its
  iterations' (latency from the intended start to the end of the last step, think time excluded);
  ``steps`` holds each step's own figures (``_steps``), ``flow`` the iterations beside the step calls, and
  ``throughputBytes`` the bytes the steps moved.
- A broker surface (``result.surface``): the requests are its messages and the latency their end-to-end lag
  from the intended publish time; ``surface`` holds time-to-ack, depth and message counts (``_surface``).
- Type reports follow the test type (``test_type``, else ``extra["testType"]``): spike → ``spike``, soak →
  ``soak`` (windows of ``extra["window"]`` seconds), stress → ``stress`` (from ``extra["stress"]``),
  latency → ``latencyProfile``. Without a known type they follow the data: a phase named ``spike``,
  ``extra["window"]``, ``extra["stress"]`` or several payload variants.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sk_loadagent.histogram import RELATIVE_ERROR
from sk_loadagent.measurements import Phase, ResourceSamples, RunResult
from sk_loadagent.models.durations import parse_duration
from sk_loadagent.models.metrics import (
    ClusterRun,
    MeasurementInfo,
    NodeGenerator,
    PerfMetrics,
    PhaseSummary,
    StressReport,
    TimelinePoint,
)

from ._generator import generator_stats
from ._payloads import latency_profile
from ._resources import resource_usage
from ._run_view import RunView, Span
from ._soak import soak_report
from ._spike import spike_report
from ._steps import flow_figures, step_bytes, step_metrics
from ._stress import stress_report
from ._surface import surface_figures

_SOAK_WINDOWS = 12


def summarize(
    result: RunResult, resources: ResourceSamples | None = None, *, test_type: str | None = None
) -> PerfMetrics:
    """Every measured figure of the run; score, status, thresholds and comparison are left empty."""
    view = RunView(result)
    warnings: list[str] = []
    test_type = _test_type(result, test_type)
    measured = [p for p in result.phases if p.measured]
    if not measured:
        warnings.append("no phase is marked measured: the whole run is measured")
        measured = [Phase("run", 0.0, result.duration, True)]
    stress: tuple[StressReport | None, list[str]] | None = None
    if test_type == "stress" or (test_type is None and result.extra.get("stress") is not None):
        stress = stress_report(view, result.extra.get("stress"))
        measured, held_note = _held_steps(measured, stress[0])
        warnings += held_note
    spans: list[Span] = [(p.start, p.end) for p in measured]
    fig = view.figures(spans)
    seconds = fig.seconds
    first, last = min(p.start for p in measured), max(p.end for p in measured)
    generator, generator_warnings = generator_stats(result.generator)
    warnings += generator_warnings + list(result.warnings)
    if fig.requests == 0:
        warnings.append("no request started in the measured phases")
    metrics = PerfMetrics(
        rps=fig.rps,
        failed_rps=fig.failed_rps,
        target_rps=_target_rps(measured),
        latency=fig.latency,
        service_time=fig.service,
        error_rate=fig.error_rate,
        errors=fig.error_counts(),
        requests=fig.requests,
        throughput_bytes=fig.bytes_in + fig.bytes_out,
        bytes_per_request=(fig.bytes_in + fig.bytes_out) / fig.requests if fig.requests else None,
        generator=generator,
        measurement=MeasurementInfo(
            source="samples" if view.exact else "histogram",
            samples=len(result.samples),
            sample_budget=result.sample_budget,
            relative_error=0.0 if view.exact else RELATIVE_ERROR,
            timed_from="actual-send" if result.timed_from == "actual-send" else "intended-start",
            generated_by=None if result.generated_by == "engine" else result.generated_by,
            approximate=result.approximate,
        ),
        phases=[_phase_summary(view, p) for p in result.phases],
        timeline=_timeline(view),
        test_duration=seconds,
        test_start_time=datetime.fromtimestamp(result.started_at + first, tz=UTC),
        latency_histogram=view.latency_histogram(spans).to_sparse(),
    )
    if result.nodes:
        metrics.cluster = _cluster(result)
    if result.steps:
        metrics.steps = step_metrics(result, measured, seconds)
        metrics.flow = flow_figures(fig, metrics.steps)
        metrics.throughput_bytes = step_bytes(result, measured)
        metrics.bytes_per_request = metrics.throughput_bytes / fig.requests if fig.requests else None
    if result.surface is not None:
        metrics.surface = surface_figures(result.surface, spans)
    if resources is not None:
        usage = resource_usage(resources, result.started_at + first, result.started_at + last)
        metrics.resources = usage
        metrics.cpu_usage_pct = usage.cpu_avg_pct
        metrics.memory_usage_mb = usage.memory_peak_mb
    warnings += _type_reports(metrics, view, spans, (first, last), resources, test_type, stress)
    metrics.warnings = warnings or None
    return metrics


def _cluster(result: RunResult) -> ClusterRun:
    return ClusterRun(
        nodes=[
            NodeGenerator(
                node=n.node,
                address=n.address,
                workers=n.workers,
                generator=generator_stats(n.generator)[0] if n.generator is not None else None,
                clock_offset_ms=n.clock_offset_s * 1000.0,
                round_trip_ms=n.round_trip_s * 1000.0,
                lost=n.lost,
            )
            for n in result.nodes
        ],
        missing_share=result.missing_share,
    )


def _test_type(result: RunResult, test_type: str | None) -> str | None:
    if test_type is None and isinstance(result.extra.get("testType"), str):
        return str(result.extra["testType"])
    return test_type


def _held_steps(measured: list[Phase], report: StressReport | None) -> tuple[list[Phase], list[str]]:
    """A stress test's figures are those of the steps that held: past the breaking point the system is
    overloaded by design, and its latency there is in the stress report, not a threshold breach."""
    if report is None or report.first_failed_rps is None:
        return measured, []
    steps = [p for p in measured if p.name.startswith("step-")]
    held = next(i for i, step in enumerate(report.steps) if not step.held)
    if held == 0 or held > len(steps):
        return measured, []
    kept = [p for p in measured if not p.name.startswith("step-")] + steps[:held]
    return sorted(kept, key=lambda p: p.start), [
        f"stress: latency, errors and rate are those of the {held} steps that held (up to "
        f"{steps[held - 1].target_rps or 0.0:g} rps); the steps past them and the probes are in 'stress'"
    ]


def _target_rps(measured: list[Phase]) -> float | None:
    rated = [p for p in measured if p.target_rps is not None and p.end > p.start]
    total = sum(p.end - p.start for p in rated)
    if not rated or total <= 0:
        return None
    return sum((p.target_rps or 0.0) * (p.end - p.start) for p in rated) / total


def _phase_summary(view: RunView, phase: Phase) -> PhaseSummary:
    fig = view.figures([(phase.start, phase.end)])
    return PhaseSummary(
        name=phase.name,
        start=phase.start,
        end=phase.end,
        measured=phase.measured,
        target_rps=phase.target_rps,
        target_vus=phase.target_vus,
        requests=fig.requests,
        rps=fig.rps,
        latency=fig.latency,
        error_rate=fig.error_rate,
    )


def _timeline(view: RunView) -> list[TimelinePoint]:
    step = view.result.window_seconds
    phases = view.result.phases
    points = []
    end = max((p.end for p in phases), default=float("inf"))
    for w in view.windows:
        if w.start >= end - 1e-9 and w.requests == 0:
            continue  # a closed model's last responses can spill past the schedule into an empty window
        fig = view.figures([(w.start, w.start + step)])
        lat = fig.latency
        points.append(
            TimelinePoint(
                t=w.start,
                rps=fig.rps or 0.0,
                p50=lat.p50 if lat else None,
                p95=lat.p95 if lat else None,
                p99=lat.p99 if lat else None,
                errors=fig.errors,
                in_flight=w.max_in_flight,
                phase=next((p.name for p in phases if p.start <= w.start < p.end), None),
            )
        )
    return points


def _type_reports(
    metrics: PerfMetrics,
    view: RunView,
    spans: list[Span],
    measured: tuple[float, float],
    resources: ResourceSamples | None,
    test_type: str | None,
    stress: tuple[StressReport | None, list[str]] | None,
) -> list[str]:
    result = view.result
    warnings: list[str] = []
    if test_type == "spike" or (test_type is None and any(p.name.lower() == "spike" for p in result.phases)):
        metrics.spike = spike_report(view)
        if metrics.spike is None:
            warnings.append("spike: no phase named 'spike', so no spike report")
    if test_type == "soak" or (test_type is None and "window" in result.extra):
        window, problem = _soak_window(result.extra.get("window"), measured, result.window_seconds)
        if problem:
            warnings.append(problem)
        metrics.soak = soak_report(view, measured[0], measured[1], window, resources)
    if stress is not None:
        metrics.stress, stress_warnings = stress
        warnings += stress_warnings
    if test_type == "latency" or (test_type is None and len(result.variants) > 1):
        metrics.latency_profile, profile_warnings = latency_profile(view, spans)
        warnings += profile_warnings
    return warnings


def _soak_window(value: object, measured: tuple[float, float], step: float) -> tuple[float, str | None]:
    """The soak window in seconds; when missing or unreadable, a twelfth of the measured stretch."""
    fallback = max(step, (measured[1] - measured[0]) / _SOAK_WINDOWS)
    if value is None:
        return fallback, None
    try:
        seconds = parse_duration(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        return fallback, f"soak: window {value!r} is not a positive duration; used {fallback:g} s"
    return seconds, None
