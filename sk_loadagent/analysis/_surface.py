"""A surface's figures beside its lag: time-to-ack, depth and message counts (spec cycle 13), of a surface
test or of a flow step on a surface.

Time-to-ack and depth count over the measured phases only, from the raw samples (exact percentiles); the
message counts are the whole run's (a message published in warm-up may be answered in the measured phase).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sk_loadagent.measurements import SurfaceMeasurements
from sk_loadagent.models.metrics import CountFigures, DepthFigures, SurfaceFigures

from ._quantiles import summary_from_seconds
from ._run_view import Span

MAX_SERIES = 240
STEP_DUE = "step-due"


def _inside(times: npt.NDArray[np.float64], spans: Sequence[Span]) -> npt.NDArray[np.bool_]:
    keep = np.zeros(times.shape, dtype=bool)
    for start, end in spans:
        keep |= (times >= start) & (times < end)
    return keep


def _timing(surface: SurfaceMeasurements, name: str, spans: Sequence[Span]) -> npt.NDArray[np.float64]:
    """The samples of one timing that began in the measured phases."""
    found = surface.timings.get(name)
    if found is None:
        return np.empty(0, np.float64)
    start, value = found
    return value[_inside(start, spans)]


def surface_figures(surface: SurfaceMeasurements, spans: Sequence[Span]) -> SurfaceFigures:
    counts = surface.counts
    if surface.kind == "webhook":
        triggered, delivered = counts.get("triggered", 0), counts.get("delivered", 0)
        return SurfaceFigures(
            kind=surface.kind,
            target=surface.target,
            lag_from="intended-trigger",
            trigger_time=summary_from_seconds(_timing(surface, "triggerTime", spans)),
            triggered=triggered,
            delivered=delivered,
            delivery_ratio=round(delivered / triggered, 6) if triggered else None,
            retries=counts.get("retries", 0),
            retry_lag=summary_from_seconds(_timing(surface, "retryLag", spans)),
            unmatched=counts.get("unmatched", 0),
        )
    if surface.kind == "grpc":
        streams = _timing(surface, "streamMessages", spans)
        return SurfaceFigures(
            kind=surface.kind,
            target=surface.target,
            lag_from="intended-call",
            stream_messages=_counts(streams) if streams.size else None,
            message_gap=summary_from_seconds(_timing(surface, "messageGap", spans)),
        )
    if surface.kind == "job":
        polls = _timing(surface, "polls", spans)
        return SurfaceFigures(
            kind=surface.kind,
            target=surface.target,
            lag_from="intended-submit",
            submit_time=summary_from_seconds(_timing(surface, "submitTime", spans)),
            polls=_counts(polls),
            done=counts.get("done", 0),
            failed=counts.get("failed", 0),
        )
    if surface.kind == "websocket":
        connects = _timing(surface, "connectTime", spans)
        pushes = _timing(surface, "pushLatency", spans)
        return SurfaceFigures(
            kind=surface.kind,
            target=surface.target,
            lag_from="intended-send",
            connect_time=summary_from_seconds(connects),
            connects=counts.get("connects", 0),
            reconnects=counts.get("reconnects", 0),
            closed_by_peer=counts.get("closedByPeer", 0),
            connect_failures=counts.get("connectFailures", 0),
            lost=counts.get("lost", 0),
            push_latency=summary_from_seconds(pushes),
            pushes=counts.get("pushes", 0),
            unmatched=counts.get("unmatched", 0),
        )
    acks = _timing(surface, "timeToAck", spans)
    return SurfaceFigures(
        kind=surface.kind,
        target=surface.target,
        lag_from="intended-publish",
        time_to_ack=summary_from_seconds(acks),
        acks=int(acks.size),
        published=counts.get("published", 0),
        received=counts.get("received", 0),
        dead_letters=counts.get("deadLetters", 0),
        unmatched=counts.get("unmatched", 0),
        publish_failed=counts.get("publishFailed", 0),
        depth=[_depth(name, samples, spans) for name, samples in surface.depth.items()] or None,
    )


def step_surface_figures(surface: SurfaceMeasurements, spans: Sequence[Span]) -> SurfaceFigures:
    """A flow step's surface: the same figures, its latency timed from the moment the step was due (after
    the step before it, not at an intended publish, send or call of its own)."""
    return surface_figures(surface, spans).model_copy(update={"lag_from": STEP_DUE})


def _counts(values: npt.NDArray[np.float64]) -> CountFigures:
    return CountFigures(
        units=int(values.size),
        total=int(values.sum()),
        mean=round(float(values.mean()), 3) if values.size else None,
        max=int(values.max()) if values.size else None,
    )


def _depth(name: str, samples: list[tuple[float, float]], spans: Sequence[Span]) -> DepthFigures:
    table = np.asarray(samples, np.float64).reshape(-1, 2)
    table = table[_inside(table[:, 0], spans)]
    values = table[:, 1][np.isfinite(table[:, 1])]
    step = max(1, -(-len(table) // MAX_SERIES))
    return DepthFigures(
        name=name,
        samples=len(table),
        max=float(values.max()) if values.size else None,
        mean=round(float(values.mean()), 3) if values.size else None,
        last=float(values[-1]) if values.size else None,
        series=[[round(float(t), 3), float(v)] for t, v in table[::step]] or None,
    )


__all__ = ["step_surface_figures", "surface_figures"]
