"""trace-summary.json's figures from spans: self time, shares, the bottleneck and its limit, the p95
exemplar's critical path, error attribution, async lag, and self time compared with the baseline's."""

from __future__ import annotations

import os

import numpy as np

from sk_loadagent.analysis.spans import BaselineSpans, compare_spans, summarize_spans
from sk_loadagent.measurements import SpanRecord

MS = 1_000_000


def _trace(charge_ms: float, *, fail: bool = False, start: int = 0) -> list[SpanRecord]:
    """POST /checkout (its own 2 ms) -> ValidateCart 3 ms, ChargeCard, then a queued email (producer 1 ms,
    consumer 4 ms after 6 ms in the queue)."""
    trace = os.urandom(16).hex()

    def span(sid: str, parent: str, name: str, a: float, b: float, **kw: object) -> SpanRecord:
        return SpanRecord(
            trace,
            sid * 16,
            parent * 16 if parent else "",
            "checkout",
            name,
            kw.pop("kind", 1),  # type: ignore[arg-type]
            start + int(a * MS),
            start + int(b * MS),
            **kw,
        )  # type: ignore[arg-type]

    t = 2 + 3 + charge_ms
    return [
        span("a", "", "POST /checkout", 0, t + 1, kind=2, error=fail),
        span("b", "a", "ValidateCart", 1, 4),
        span(
            "c",
            "a",
            "ChargeCard",
            4,
            4 + charge_ms,
            error=fail,
            error_message="card declined" if fail else None,
        ),
        span("d", "a", "publish email", 4 + charge_ms, t, kind=4),
        span("e", "d", "SendConfirmationEmail", t + 6, t + 10, kind=5),
    ]


def _run(
    charge: list[float], fail_every: int = 0
) -> tuple[dict[str, list[SpanRecord]], list[tuple[str, float, float]]]:
    traces, traced = {}, []
    for i, c in enumerate(charge):
        spans = _trace(c, fail=bool(fail_every) and i % fail_every == 0)
        traces[spans[0].trace_id] = spans
        traced.append((spans[0].trace_id, i * 0.01, (c + 7) / 1000))
    traced.append(("0" * 32, 9.0, 0.5))  # a sampled request whose spans never came
    return traces, traced


def test_operations_bottleneck_exemplar_and_lag() -> None:
    rng = np.random.default_rng(1)
    traces, traced = _run(list(rng.uniform(4, 6, 200)), fail_every=50)
    summary = summarize_spans(traces, traced, trace_id="proj-888-checkout", bottleneck_limit=0.5)
    ops = {op.name: op for op in summary.operations or []}
    assert summary.span_count == 1000
    assert summary.sampled_requests == 201
    assert summary.traces_with_spans == 200
    assert set(ops) == {
        "POST /checkout",
        "ValidateCart",
        "ChargeCard",
        "publish email",
        "SendConfirmationEmail",
    }
    assert ops["POST /checkout"].self_p95_ms == 2.0  # 1 ms before ValidateCart, 1 ms after publishing
    assert 3.0 <= ops["ValidateCart"].self_p95_ms <= 3.0 + 1e-6
    assert summary.bottleneck is not None
    assert summary.bottleneck.name == "ChargeCard"
    assert 0.4 < summary.bottleneck.share_at_p95 < 0.6
    assert summary.longest_span in {"ChargeCard", "SendConfirmationEmail"}
    # errors: ChargeCard began them; the root only passed them on
    assert (ops["ChargeCard"].errors, ops["ChargeCard"].errors_own) == (4, 4)
    assert (ops["POST /checkout"].errors, ops["POST /checkout"].errors_own) == (4, 0)
    assert ops["ChargeCard"].error_messages == ["card declined (4)"]
    assert summary.critical_path is not None
    assert [step.name for step in summary.critical_path] == ["POST /checkout", "publish email"]
    assert summary.exemplar_latency_ms is not None
    assert 10.5 < summary.exemplar_latency_ms < 13.1
    assert summary.async_lag is not None
    assert [(lag.name, lag.p95_ms) for lag in summary.async_lag] == [("SendConfirmationEmail", 6.0)]


def test_a_new_bottleneck_against_the_baseline() -> None:
    rng = np.random.default_rng(2)
    before = summarize_spans(*_run(list(rng.uniform(1, 1.5, 150))), trace_id="t", bottleneck_limit=0.5)
    assert before.bottleneck is not None
    assert before.bottleneck.name == "ValidateCart"
    after = summarize_spans(*_run(list(rng.uniform(8, 9, 150))), trace_id="t", bottleneck_limit=0.9)
    compared = compare_spans(after, BaselineSpans.of(before), 0.25)
    ops = {op.name: op for op in compared.operations or []}
    assert ops["ChargeCard"].self_regressed
    assert ops["ValidateCart"].self_regressed is False
    assert compared.bottleneck is not None
    assert compared.bottleneck.name == "ChargeCard"
    assert compared.bottleneck.new_vs_baseline
    assert compared.bottleneck.baseline_bottleneck == "checkout / ValidateCart"
    assert compared.bottleneck_detected  # new, although under its 0.9 limit
    assert compared.span_delta_vs_baseline == ops["ChargeCard"].self_delta_vs_baseline
    assert compared.span_delta_vs_baseline is not None
    assert compared.span_delta_vs_baseline.startswith("+")


def test_no_spans_says_so() -> None:
    summary = summarize_spans({}, [("a" * 32, 0.0, 0.01)], trace_id="t", bottleneck_limit=0.5)
    assert summary.span_count == 0
    assert summary.notes == [
        "no spans arrived for the sampled requests (is the service exporting OTLP here?)"
    ]
    assert summary.bottleneck_detected is None
