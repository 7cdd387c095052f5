"""Seeing inside the service under load: W3C trace context on the run's requests, an OTLP receiver and
Collector files for the service's spans, joined to the run by trace id, and the target's Prometheus
endpoint scraped during each test (its resources measured wherever it runs).

    with Observation(config, "observability.config.yaml", trace_id) as watch:
        profile = profile.model_copy(update={"trace": watch.trace_context("load /checkout")})
        ...
        spans = watch.harvest({trace for trace, _, _ in result.traced})

The receiver runs on a thread of the coordinating process, never in a load worker. Decoding needs the
``observability`` extra (opentelemetry-proto).
"""

from sk_loadagent.observability._config import DEFAULT_OTLP_URL, SERVICE_PORTS, check_config
from sk_loadagent.observability._file import read_span_file
from sk_loadagent.observability._live import LiveMetrics, export_results
from sk_loadagent.observability._otlp import PayloadError, decode
from sk_loadagent.observability._prometheus import PrometheusScraper, ScrapedMetrics, read_exposition
from sk_loadagent.observability._receiver import SpanReceiver, SpanStore
from sk_loadagent.observability._watch import Observation, SpanHarvest

__all__ = [
    "DEFAULT_OTLP_URL",
    "SERVICE_PORTS",
    "LiveMetrics",
    "Observation",
    "PayloadError",
    "PrometheusScraper",
    "ScrapedMetrics",
    "SpanHarvest",
    "SpanReceiver",
    "SpanStore",
    "check_config",
    "decode",
    "export_results",
    "read_exposition",
    "read_span_file",
]
