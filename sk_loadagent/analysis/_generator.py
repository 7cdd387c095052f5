"""The load generator's own figures, and whether it kept up with the schedule."""

from __future__ import annotations

from sk_loadagent.measurements import GeneratorReport
from sk_loadagent.models.metrics import GeneratorStats

from ._format import number, pct

MAX_LATE_SHARE = 0.01
MAX_CPU_SHARE = 0.90


def generator_stats(report: GeneratorReport) -> tuple[GeneratorStats, list[str]]:
    """Saturated when > 1 % of requests started late, any were dropped, or the generator used > 90 % of
    its cores (one per worker process). Each cause becomes a warning a person can act on."""
    warnings: list[str] = []
    late_share = report.late_starts / report.requests if report.requests else 0.0
    threshold_ms = report.late_threshold_s * 1000.0
    if late_share > MAX_LATE_SHARE:
        warnings.append(
            f"generator: {pct(late_share)} of requests started more than {number(threshold_ms)} ms "
            "after their intended start (latency is still timed from the intended start, "
            "but the offered load fell short)"
        )
    if report.dropped > 0:
        warnings.append(f"generator: {report.dropped} scheduled requests were dropped and never sent")
    cores = max(1, report.workers)
    if report.cpu_pct > MAX_CPU_SHARE * 100.0 * cores:
        warnings.append(
            f"generator: CPU at {number(report.cpu_pct)} % of one core with {cores} worker(s): "
            "it may be the bottleneck, not the service"
        )
    stats = GeneratorStats(
        requests=report.requests,
        cpu_seconds=report.cpu_seconds,
        cpu_pct=report.cpu_pct,
        late_starts=report.late_starts,
        dropped=report.dropped,
        workers=report.workers,
        transport=report.transport,
        max_in_flight=report.max_in_flight,
        connections_opened=report.connections_opened,
        tls_sessions_resumed=report.tls_resumed,
        late_threshold_ms=threshold_ms,
        saturated=bool(warnings),
    )
    return stats, warnings
