"""OTLP trace payloads (protobuf or JSON, as an exporter sends them or a Collector file exporter writes them)
decoded with opentelemetry-proto into plain ``SpanRecord`` values.

OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64: the ids are turned
into base64 before ``json_format`` parses the document.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

from sk_loadagent.extras import require
from sk_loadagent.measurements import SpanRecord

_STATUS_ERROR = 2
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class PayloadError(ValueError):
    """A payload that is not an OTLP trace export (counted and ignored by the receiver)."""


def _proto() -> Any:
    return require("opentelemetry.proto.collector.trace.v1.trace_service_pb2", "observability", "OTLP spans")


def decode(body: bytes, content_type: str, content_encoding: str | None = None) -> list[SpanRecord]:
    """The spans of one export request; PayloadError when it is not one."""
    try:
        if content_encoding == "gzip":
            body = gzip.decompress(body)
        if "json" in content_type:
            return from_json(json.loads(body))
        request = _proto().ExportTraceServiceRequest.FromString(body)
    except PayloadError:
        raise
    except Exception as exc:  # any decoding failure of untrusted bytes is a bad payload
        raise PayloadError(f"{type(exc).__name__}: {exc}") from None
    return _records(request)


def from_json(document: object) -> list[SpanRecord]:
    """The spans of an OTLP/JSON export request (a dict with ``resourceSpans``)."""
    from google.protobuf import json_format  # type: ignore[import-untyped]

    if not isinstance(document, dict) or not isinstance(document.get("resourceSpans"), list):
        raise PayloadError("an OTLP/JSON document with resourceSpans")
    _ids_to_base64(document)
    try:
        request = json_format.ParseDict(
            document, _proto().ExportTraceServiceRequest(), ignore_unknown_fields=True
        )
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise PayloadError(str(exc)) from None
    return _records(request)


def _ids_to_base64(node: object) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str) and value:
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except ValueError:
                    raise PayloadError(f"{key}: hex digits, got {value[:40]!r}") from None
            else:
                _ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_base64(item)


def _attribute(attributes: Any, key: str) -> str | None:
    for kv in attributes:
        if kv.key == key:
            value = kv.value
            return str(getattr(value, value.WhichOneof("value"))) if value.WhichOneof("value") else None
    return None


def _records(request: Any) -> list[SpanRecord]:
    records: list[SpanRecord] = []
    for resource_spans in request.resource_spans:
        attributes = resource_spans.resource.attributes
        service = _attribute(attributes, "service.name") or "unknown_service"
        host = _attribute(attributes, "host.name") or _attribute(attributes, "service.instance.id")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    raise PayloadError("spans with 16-byte trace ids and 8-byte span ids")
                error = span.status.code == _STATUS_ERROR
                records.append(
                    SpanRecord(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        service=service,
                        name=span.name,
                        kind=int(span.kind),
                        start_ns=int(span.start_time_unix_nano),
                        end_ns=int(span.end_time_unix_nano),
                        error=error,
                        error_message=(span.status.message or None) if error else None,
                        host=host,
                    )
                )
    return records


def response_bytes() -> bytes:
    """An empty ExportTraceServiceResponse (what an OTLP/HTTP protobuf exporter expects back)."""
    return bytes(_proto().ExportTraceServiceResponse().SerializeToString())
