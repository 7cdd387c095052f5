"""The latency profile of a latency test: one entry per payload size."""

from __future__ import annotations

from collections.abc import Sequence

from sk_loadagent.models.metrics import PayloadLatency

from ._run_view import Figures, RunView, Span


def latency_profile(view: RunView, spans: Sequence[Span]) -> tuple[list[PayloadLatency] | None, list[str]]:
    """From each sample's variant when the run kept its samples, else from phases with ``payload_bytes``."""
    result = view.result
    if view.exact and result.variants:
        by_size: dict[int, Figures] = {}
        warnings: list[str] = []
        for index, fig in view.figures_by_variant(spans).items():
            if not 0 <= index < len(result.variants):
                warnings.append(f"latency profile: {fig.requests} samples name an unknown variant {index}")
                continue
            by_size[result.variants[index]] = fig
        return _entries(by_size), warnings
    phases: dict[int, list[Span]] = {}
    for p in result.phases:
        if p.measured and p.payload_bytes is not None:
            phases.setdefault(p.payload_bytes, []).append((p.start, p.end))
    if not phases:
        return None, ["latency profile: no per-variant samples and no phases with a payload size"]
    return _entries({size: view.figures(parts) for size, parts in phases.items()}), []


def _entries(by_size: dict[int, Figures]) -> list[PayloadLatency] | None:
    entries = [
        PayloadLatency(
            size_bytes=size, requests=fig.requests, latency=fig.latency, error_rate=fig.error_rate or 0.0
        )
        for size, fig in sorted(by_size.items())
        if fig.latency is not None
    ]
    return entries or None
