"""Spans from an OpenTelemetry Collector ``file`` exporter: one OTLP/JSON export request per line."""

from __future__ import annotations

import json
from pathlib import Path

from sk_loadagent.errors import InputError
from sk_loadagent.measurements import SpanRecord
from sk_loadagent.observability._otlp import PayloadError, from_json


def read_span_file(path: str | Path, source: str, field: str) -> tuple[list[SpanRecord], int]:
    """Every line's spans, and how many lines were not OTLP/JSON (skipped); a missing file is bad input."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError.single(source, field, "a readable OpenTelemetry Collector file", str(exc)) from None
    records: list[SpanRecord] = []
    malformed = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            records += from_json(json.loads(line))
        except (ValueError, PayloadError):
            malformed += 1
    return records, malformed
