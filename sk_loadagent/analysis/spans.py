"""The service's spans of the sampled requests, summarised: per operation, the p95 exemplar's critical path,
async lag and the bottleneck (trace-summary.json), and the self-time change per operation vs the baseline.

Spans come from other processes and clocks: durations are compared, never timestamps across clocks. A
span's self time is its duration minus the time its children cover (their union, for children on the same
clock; their summed durations, capped at the span's, for children elsewhere). Self time per operation is
compared with the baseline's under the rule latency uses (``regression``: bootstrap ratio of p95s with
run-to-run noise).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.measurements import SpanRecord
from sk_loadagent.models.trace_summary import (
    AsyncLag,
    Bottleneck,
    CallPath,
    Operation,
    PathStep,
    TraceSummary,
)

from .regression import DEFAULT_RUN_NOISE, REPLICATES, ComparisonInput, _quantile_delta

CONSUMER, PRODUCER = 5, 4
MESSAGES_SHOWN = 3
OpKey = tuple[str, str]


@dataclass
class _Node:
    span: SpanRecord
    children: list[_Node] = field(default_factory=list)
    self_ns: int = 0


@dataclass
class _OpTally:
    durations: list[float] = field(default_factory=list)  # ms
    self_times: list[float] = field(default_factory=list)  # ms
    errors: int = 0
    errors_own: int = 0
    messages: dict[str, int] = field(default_factory=dict)


def _roots(spans: Sequence[SpanRecord]) -> list[_Node]:
    """The span trees of one trace: a span whose parent is not among them (the load generator's client
    span, or none) is a root."""
    nodes = {s.span_id: _Node(s) for s in spans}
    roots: list[_Node] = []
    for node in nodes.values():
        parent = nodes.get(node.span.parent_id) if node.span.parent_id else None
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    return roots


def _covered_ns(node: _Node) -> int:
    """How much of the span its children cover."""
    span = node.span
    same = sorted(
        (max(c.span.start_ns, span.start_ns), min(c.span.end_ns, span.end_ns))
        for c in node.children
        if c.span.host == span.host
    )
    covered, reach = 0, span.start_ns
    for start, end in same:
        start = max(start, reach)
        if end > start:
            covered += end - start
            reach = end
    covered += sum(max(0, c.span.end_ns - c.span.start_ns) for c in node.children if c.span.host != span.host)
    return min(covered, max(0, span.end_ns - span.start_ns))


def _walk(root: _Node) -> Iterable[tuple[_Node, tuple[str, ...]]]:
    """Every node of a tree with its call path (``service: name`` from the root)."""
    stack: list[tuple[_Node, tuple[str, ...]]] = [(root, (f"{root.span.service}: {root.span.name}",))]
    while stack:
        node, path = stack.pop()
        yield node, path
        stack.extend((c, (*path, f"{c.span.service}: {c.span.name}")) for c in node.children)


def _failing_child(node: _Node) -> bool:
    return any(c.span.error for c in node.children)


def _critical_path(root: _Node) -> list[PathStep]:
    """Root first, then at each level the child that ended last (on the parent's clock) or, across clocks,
    the longest one: the chain the request waited on (message consumers excluded)."""
    path: list[PathStep] = []
    node: _Node | None = root
    while node is not None:
        span = node.span
        path.append(
            PathStep(
                service=span.service,
                name=span.name,
                duration_ms=round(span.duration_ms, 3),
                self_ms=round(node.self_ns / 1e6, 3),
            )
        )
        waited = [c for c in node.children if c.span.kind != CONSUMER]  # a consumer runs after the answer
        if not waited:
            break
        same = [c for c in waited if c.span.host == span.host]
        node = (
            max(same, key=lambda c: c.span.end_ns) if same else max(waited, key=lambda c: c.span.duration_ms)
        )
    return path


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class BaselineSpans:
    """What a stored run's trace summary offers for comparison: self-time histograms and its bottleneck."""

    histograms: dict[OpKey, LatencyHistogram]
    bottleneck: OpKey | None

    @classmethod
    def from_profile(cls, profile: dict[str, Any] | None) -> BaselineSpans | None:
        """From what memory keeps of a run (``spanProfile``: operations' self-time histograms, bottleneck)."""
        if not profile or not profile.get("operations"):
            return None
        histograms = {
            (str(op["service"]), str(op["name"])): LatencyHistogram.from_sparse(op["selfHistogram"])
            for op in profile["operations"]
            if op.get("selfHistogram")
        }
        b = profile.get("bottleneck")
        return cls(histograms, (str(b["service"]), str(b["name"])) if b else None)

    @classmethod
    def of(cls, summary: TraceSummary | None) -> BaselineSpans | None:
        if summary is None or not summary.operations:
            return None
        histograms = {
            (op.service, op.name): LatencyHistogram.from_sparse(op.self_histogram)
            for op in summary.operations
            if op.self_histogram
        }
        b = summary.bottleneck
        return cls(histograms, (b.service, b.name) if b is not None else None)


def summarize_spans(
    traces: dict[str, list[SpanRecord]],
    traced: Sequence[tuple[str, float, float]],
    *,
    trace_id: str | None,
    bottleneck_limit: float,
    test_name: str | None = None,
    malformed: int = 0,
) -> TraceSummary:
    """trace-summary.json's figures from the spans of the sampled requests (``traced``: trace id, start,
    latency in seconds, as the engine recorded them)."""
    tallies: dict[OpKey, _OpTally] = defaultdict(_OpTally)
    request_ms: dict[str, float] = {}
    trees: dict[str, _Node] = {}
    lags: dict[OpKey, list[float]] = defaultdict(list)
    consumers: set[OpKey] = set()
    paths: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0])
    span_count = 0
    for trace, spans in traces.items():
        span_count += len(spans)
        roots = _roots(spans)
        by_id = {s.span_id: s for s in spans}
        for root in roots:
            for node, path in _walk(root):
                span = node.span
                node.self_ns = max(0, span.end_ns - span.start_ns) - _covered_ns(node)
                paths[path][0] += node.self_ns / 1e6
                paths[path][1] += 1
                tally = tallies[(span.service, span.name)]
                tally.durations.append(span.duration_ms)
                tally.self_times.append(node.self_ns / 1e6)
                if span.error:
                    tally.errors += 1
                    if not _failing_child(node):
                        tally.errors_own += 1
                        message = span.error_message or "error status"
                        tally.messages[message] = tally.messages.get(message, 0) + 1
                if span.kind == CONSUMER:
                    consumers.add((span.service, span.name))
                    producer = by_id.get(span.parent_id)
                    if producer is not None and producer.kind == PRODUCER and producer.host == span.host:
                        lags[(span.service, span.name)].append((span.start_ns - producer.end_ns) / 1e6)
        main = max(roots, key=lambda r: r.span.duration_ms)
        trees[trace] = main
        request_ms[trace] = sum(r.span.duration_ms for r in roots if r.span.host == main.span.host) or 0.0
    summary = TraceSummary(
        trace_id=trace_id,
        test_name=test_name,
        span_count=span_count,
        sampled_requests=len(traced),
        traces_with_spans=len(traces),
        malformed_payloads=malformed or None,
    )
    if not traces:
        summary.notes = ["no spans arrived for the sampled requests (is the service exporting OTLP here?)"]
        return summary
    total_request = sum(request_ms.values())
    p95_request = _quantile(list(request_ms.values()), 0.95)
    operations = [_operation(key, t, total_request, p95_request) for key, t in tallies.items()]
    operations.sort(key=lambda op: -op.share_at_p95)
    summary.operations = operations
    summary.duration_ms = round(p95_request, 3)
    root_ops = {(n.span.service, n.span.name) for n in trees.values()}
    inner = [op for op in operations if (op.service, op.name) not in root_ops] or operations
    summary.longest_span = max(inner, key=lambda op: op.p95_ms).name
    exemplar = _exemplar(traced, trees)
    if exemplar is not None:
        summary.exemplar_trace_id, latency = exemplar
        summary.exemplar_latency_ms = round(latency * 1000, 3)
        summary.critical_path = _critical_path(trees[summary.exemplar_trace_id])
    summary.call_paths = [
        CallPath(path=list(path), self_ms=round(total, 3), count=int(count))
        for path, (total, count) in sorted(paths.items())
    ]
    summary.async_lag = [
        AsyncLag(
            service=service,
            name=name,
            count=len(values),
            p50_ms=round(_quantile(values, 0.5), 3),
            p95_ms=round(_quantile(values, 0.95), 3),
        )
        for (service, name), values in sorted(lags.items())
    ] or None
    # Message consumers run after the answer: the request did not wait on them.
    top = next((op for op in operations if (op.service, op.name) not in consumers), operations[0])
    summary.bottleneck = Bottleneck(
        service=top.service,
        name=top.name,
        share_at_p95=top.share_at_p95,
        limit=bottleneck_limit,
        over_limit=top.share_at_p95 > bottleneck_limit,
        new_vs_baseline=False,
    )
    summary.bottleneck_detected = summary.bottleneck.over_limit
    return summary


def _operation(key: OpKey, tally: _OpTally, total_request: float, p95_request: float) -> Operation:
    self_p95 = _quantile(tally.self_times, 0.95)
    histogram = LatencyHistogram.from_values(np.asarray(tally.self_times, dtype=np.float64) / 1000.0)
    messages = sorted(tally.messages.items(), key=lambda item: -item[1])[:MESSAGES_SHOWN]
    return Operation(
        service=key[0],
        name=key[1],
        count=len(tally.durations),
        p50_ms=round(_quantile(tally.durations, 0.5), 3),
        p95_ms=round(_quantile(tally.durations, 0.95), 3),
        self_p95_ms=round(self_p95, 3),
        share=round(min(1.0, sum(tally.self_times) / total_request), 4) if total_request > 0 else 0.0,
        share_at_p95=round(self_p95 / p95_request, 4) if p95_request > 0 else 0.0,
        errors=tally.errors,
        errors_own=tally.errors_own,
        error_messages=[f"{m} ({n})" for m, n in messages] or None,
        self_histogram=histogram.to_sparse(),
    )


def _exemplar(
    traced: Sequence[tuple[str, float, float]], trees: dict[str, _Node]
) -> tuple[str, float] | None:
    """The sampled request at the p95 of client latency among those whose spans arrived."""
    with_spans = sorted((latency, trace) for trace, _, latency in traced if trace in trees)
    if not with_spans:
        return None
    latency, trace = with_spans[max(0, math.ceil(0.95 * len(with_spans)) - 1)]
    return trace, latency


def compare_spans(
    summary: TraceSummary,
    baseline: BaselineSpans | None,
    tolerance: float,
    *,
    run_noise: float = DEFAULT_RUN_NOISE,
) -> TraceSummary:
    """Each operation's self time against the baseline's (p95, the latency rule); the bottleneck is new
    when the baseline's was another operation. ``spanDeltaVsBaseline`` is the bottleneck's change."""
    if baseline is None or not summary.operations:
        return summary
    noise = max(0.0, run_noise) * math.sqrt(2.0)
    operations = []
    for op in summary.operations:
        base = baseline.histograms.get((op.service, op.name))
        if base is None or not base.count or op.self_histogram is None:
            operations.append(op)
            continue
        current = LatencyHistogram.from_sparse(op.self_histogram)
        result = _quantile_delta(_side(current), _side(base), 0.95, tolerance, noise, REPLICATES)
        d = result.delta
        operations.append(
            op.model_copy(
                update={
                    "baseline_self_p95_ms": round(d.baseline, 3) if d.baseline is not None else None,
                    "self_delta_vs_baseline": d.delta,
                    "self_delta_interval": [d.interval.low, d.interval.high] if d.interval else None,
                    "self_regressed": d.regressed if d.delta is not None else None,
                }
            )
        )
    updates: dict[str, object] = {"operations": operations}
    bottleneck = summary.bottleneck
    if bottleneck is not None:
        key = (bottleneck.service, bottleneck.name)
        top = next(op for op in operations if (op.service, op.name) == key)
        new = baseline.bottleneck is not None and baseline.bottleneck != key
        bottleneck = bottleneck.model_copy(
            update={
                "new_vs_baseline": new,
                "baseline_bottleneck": " / ".join(baseline.bottleneck) if baseline.bottleneck else None,
                "self_delta_vs_baseline": top.self_delta_vs_baseline,
            }
        )
        updates["bottleneck"] = bottleneck
        updates["bottleneck_detected"] = bottleneck.over_limit or new
        updates["span_delta_vs_baseline"] = top.self_delta_vs_baseline
    return summary.model_copy(update=updates)


def _side(histogram: LatencyHistogram) -> ComparisonInput:
    p95 = histogram.quantile(0.95)
    p99 = histogram.quantile(0.99)
    return ComparisonInput(
        histogram=histogram,
        requests=histogram.count,
        errors=0,
        p95=p95 * 1000 if p95 is not None else None,
        p99=p99 * 1000 if p99 is not None else None,
        rps=None,
        error_rate=None,
    )


def span_anomaly(summary: TraceSummary | None) -> str | None:
    """Cycle 11's span-level anomaly: a new bottleneck span whose self time rose significantly (the latency
    rule) against the baseline; None otherwise."""
    b = summary.bottleneck if summary is not None else None
    if summary is None or b is None or not b.new_vs_baseline:
        return None
    top = next((op for op in summary.operations or [] if (op.service, op.name) == (b.service, b.name)), None)
    if top is None or not top.self_regressed:
        return None
    return (
        f"new bottleneck span {b.service} / {b.name}: self time p95 {top.self_delta_vs_baseline} vs the "
        f"baseline ({top.baseline_self_p95_ms:g} → {top.self_p95_ms:g} ms; was {b.baseline_bottleneck})"
    )
