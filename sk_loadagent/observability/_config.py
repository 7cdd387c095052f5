"""Where the run listens and what it scrapes, checked before any load is sent.

Receivers bind loopback only, and never a port of the machine's own services (a broker or database that a
test of ours would otherwise shadow or collide with).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sk_loadagent.engine import is_loopback
from sk_loadagent.errors import InputError, InputProblem
from sk_loadagent.extras import require
from sk_loadagent.models.observability import ObservabilityConfig

DEFAULT_OTLP_URL = "http://127.0.0.1:4318"
# PostgreSQL, Redis, RabbitMQ, NATS, Mosquitto: the local services' ports.
SERVICE_PORTS = frozenset({5432, 6379, 5672, 4222, 1883, 15672, 8222})
KNOWN_SPAN_SOURCES = ("otlp", "file")
KNOWN_METRIC_SOURCES = ("prometheus", "psutil")


def receiver_address(url: str | None) -> tuple[str, int]:
    """The (host, port) an OTLP receiver binds for ``url`` (port 0: any free one)."""
    parts = urlsplit(url or DEFAULT_OTLP_URL)
    return parts.hostname or "127.0.0.1", parts.port if parts.port is not None else 4318


def check_config(config: ObservabilityConfig, source: str, prefix: str = "") -> None:
    """Raise InputError naming ``source`` and every field a run cannot honour (``prefix``: where the config
    sits in that file, e.g. ``observability.`` in a plan)."""
    problems: list[InputProblem] = []
    for i, span_source in enumerate(config.spans or []):
        field = f"{prefix}spans[{i}]"
        if span_source.source not in KNOWN_SPAN_SOURCES:
            problems.append(InputProblem(f"{field}.source", "otlp or file", span_source.source))
        elif span_source.source == "otlp":
            host, port = receiver_address(span_source.url)
            if not is_loopback(host):
                problems.append(
                    InputProblem(f"{field}.url", "a loopback address to listen on (127.0.0.1 or ::1)", host)
                )
            elif port in SERVICE_PORTS:
                problems.append(
                    InputProblem(f"{field}.url", "a port other than the local services' ports", str(port))
                )
        elif span_source.path is None:
            expected = "the file an OpenTelemetry Collector file exporter writes"
            problems.append(InputProblem(f"{field}.path", expected, "none"))
    for i, metric_source in enumerate(config.metrics or []):
        field = f"{prefix}metrics[{i}]"
        if metric_source.source not in KNOWN_METRIC_SOURCES:
            problems.append(InputProblem(f"{field}.source", "prometheus or psutil", metric_source.source))
        elif metric_source.source == "prometheus" and metric_source.url is None:
            problems.append(InputProblem(f"{field}.url", "the service's /metrics URL", "none"))
    if config.serve_metrics is not None:
        problems += _listen_problems(f"{prefix}serveMetrics", config.serve_metrics)
    if config.export_metrics is not None:
        host = urlsplit(config.export_metrics).hostname or ""
        if not is_loopback(host):
            problems.append(
                InputProblem(
                    f"{prefix}exportMetrics", "an OTLP endpoint on loopback (127.0.0.1 or ::1)", host
                )
            )
    if problems:
        raise InputError(source, problems)
    _require_extras(config)


def _require_extras(config: ObservabilityConfig) -> None:
    """The observability extra's libraries the config needs: missing, the run stops before any load with
    the pip command that brings them (exit 2)."""
    if config.spans:
        require("opentelemetry.proto.collector.trace.v1.trace_service_pb2", "observability", "spans")
    if config.sources("metrics", "prometheus") or config.serve_metrics is not None:
        require("prometheus_client", "observability", "Prometheus metrics")
    if config.export_metrics is not None:
        require("opentelemetry.exporter.otlp.proto.http.metric_exporter", "observability", "exportMetrics")


def serve_address(value: str) -> tuple[str, int]:
    """``host:port`` (or a URL) of the run's own /metrics; port 0 picks a free one."""
    parts = urlsplit(value if "//" in value else f"http://{value}")
    return parts.hostname or "127.0.0.1", parts.port or 0


def _listen_problems(field: str, value: str) -> list[InputProblem]:
    try:
        host, port = serve_address(value)
    except ValueError:
        return [InputProblem(field, "host:port on loopback, such as 127.0.0.1:9469", value)]
    if not is_loopback(host):
        return [InputProblem(field, "a loopback address to listen on (127.0.0.1 or ::1)", host)]
    if port in SERVICE_PORTS:
        return [InputProblem(field, "a port other than the local services' ports", str(port))]
    return []
