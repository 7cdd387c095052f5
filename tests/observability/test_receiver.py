"""Spans in: the OTLP/HTTP receiver (protobuf from the real SDK exporter, JSON), Collector files, bad payloads
counted and ignored, and the config checks (loopback only, never a local service's port)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.propagate import extract
from opentelemetry.trace import StatusCode
from spans_support import tracer_provider

from sk_loadagent.errors import InputError
from sk_loadagent.models.observability import ObservabilityConfig
from sk_loadagent.observability import SpanReceiver, check_config, read_span_file

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _post(url: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_spans_from_the_sdk_exporter_are_joined_by_trace_id() -> None:
    receiver = SpanReceiver("127.0.0.1", 0).start()
    try:
        provider = tracer_provider(receiver.url)
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("POST /checkout", context=extract({"traceparent": PARENT})):
            with tracer.start_as_current_span("ChargeCard") as span:
                span.set_status(StatusCode.ERROR, "card declined")
            with tracer.start_as_current_span("ValidateCart"):
                time.sleep(0.002)
        provider.shutdown()
        traces = receiver.store.traces({TRACE, "f" * 32})
    finally:
        receiver.stop()
    assert list(traces) == [TRACE]
    spans = {s.name: s for s in traces[TRACE]}
    assert set(spans) == {"POST /checkout", "ChargeCard", "ValidateCart"}
    root = spans["POST /checkout"]
    assert root.parent_id == "00f067aa0ba902b7"  # the client's span: the load generator's request
    assert root.service == "checkout"
    assert spans["ChargeCard"].parent_id == root.span_id
    assert spans["ChargeCard"].error
    assert spans["ChargeCard"].error_message == "card declined"
    assert spans["ValidateCart"].duration_ms >= 2


def _json_export(trace: str = TRACE) -> dict[str, object]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "mail"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": "1111111111111111",
                                "parentSpanId": "00f067aa0ba902b7",
                                "name": "SendConfirmationEmail",
                                "kind": 5,
                                "startTimeUnixNano": "1000000000",
                                "endTimeUnixNano": "1250000000",
                            }
                        ]
                    }
                ],
            }
        ]
    }


def test_json_payloads_are_read_and_malformed_ones_counted_and_ignored() -> None:
    receiver = SpanReceiver("127.0.0.1", 0).start()
    try:
        url = f"{receiver.url}/v1/traces"
        assert _post(url, json.dumps(_json_export()).encode(), "application/json") == 200
        assert _post(url, b"\x00garbage\xff", "application/x-protobuf") == 400
        assert _post(url, b"{not json", "application/json") == 400
        assert _post(url, json.dumps(_json_export("zz")).encode(), "application/json") == 400
        assert _post(f"{receiver.url}/v1/metrics", b"{}", "application/json") == 404
        spans = receiver.store.traces({TRACE})[TRACE]
        malformed = receiver.store.malformed
    finally:
        receiver.stop()
    assert [(s.service, s.name, s.kind, s.duration_ms) for s in spans] == [
        ("mail", "SendConfirmationEmail", 5, 250.0)
    ]
    assert malformed == 3


def test_collector_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(
        json.dumps(_json_export()) + "\nnot json\n\n" + json.dumps(_json_export("ab" * 16)) + "\n"
    )
    records, malformed = read_span_file(path, "obs.yaml", "spans[0].path")
    assert [r.trace_id for r in records] == [TRACE, "ab" * 16]
    assert malformed == 1
    with pytest.raises(InputError) as caught:
        read_span_file(tmp_path / "missing.jsonl", "obs.yaml", "spans[0].path")
    assert str(caught.value).startswith(
        "obs.yaml: spans[0].path: expected a readable OpenTelemetry Collector"
    )


def test_receivers_listen_on_loopback_only_and_never_on_a_services_port() -> None:
    config = ObservabilityConfig.model_validate(
        {
            "spans": [
                {"source": "otlp", "url": "http://10.1.2.3:4318"},
                {"source": "otlp", "url": "http://127.0.0.1:5432"},
                {"source": "file"},
                {"source": "zipkin"},
            ],
            "metrics": [{"source": "prometheus"}],
        }
    )
    with pytest.raises(InputError) as caught:
        check_config(config, "observability.config.yaml")
    assert str(caught.value) == (
        "observability.config.yaml: 5 problems\n"
        "  - spans[0].url: expected a loopback address to listen on (127.0.0.1 or ::1), got 10.1.2.3\n"
        "  - spans[1].url: expected a port other than the local services' ports, got 5432\n"
        "  - spans[2].path: expected the file an OpenTelemetry Collector file exporter writes, got none\n"
        "  - spans[3].source: expected otlp or file, got zipkin\n"
        "  - metrics[0].url: expected the service's /metrics URL, got none"
    )


def test_the_runs_own_metrics_stay_on_loopback() -> None:
    config = ObservabilityConfig.model_validate(
        {"serveMetrics": "0.0.0.0:9469", "exportMetrics": "http://10.0.0.5:4318"}
    )
    with pytest.raises(InputError) as caught:
        check_config(config, "observability.config.yaml")
    assert str(caught.value) == (
        "observability.config.yaml: 2 problems\n"
        "  - serveMetrics: expected a loopback address to listen on (127.0.0.1 or ::1), got 0.0.0.0\n"
        "  - exportMetrics: expected an OTLP endpoint on loopback (127.0.0.1 or ::1), got 10.0.0.5"
    )
    check_config(ObservabilityConfig.model_validate({"serveMetrics": "127.0.0.1:0"}), "o.yaml")


def test_a_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from sk_loadagent import extras

    real = importlib.import_module

    def without_prometheus(name: str, package: str | None = None) -> object:
        if name.startswith("prometheus_client"):
            raise ImportError(name)
        return real(name, package)

    monkeypatch.setattr(extras.importlib, "import_module", without_prometheus)
    config = ObservabilityConfig.model_validate({"serveMetrics": "127.0.0.1:0"})
    with pytest.raises(InputError) as caught:
        check_config(config, "o.yaml")
    assert str(caught.value) == (
        "Prometheus metrics: prometheus_client: expected the prometheus_client package "
        "(pip install 'sk-loadagent[observability]'), got not installed"
    )
