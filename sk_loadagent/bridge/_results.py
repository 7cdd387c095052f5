"""Building the engine's result types from a tool's requests: per-window aggregates and the whole run."""

from __future__ import annotations

import math

import numpy as np

from sk_loadagent.measurements import GeneratorReport, Phase, RunResult, Samples, Window

WINDOW_S = 1.0


def windows_of(samples: Samples, window_seconds: float, duration: float) -> list[Window]:
    """One window per ``window_seconds`` from t0 to ``duration``: every request counted by its start."""
    count = max(1, math.ceil(duration / window_seconds - 1e-9))
    index = np.minimum((samples.start // window_seconds).astype(np.intp), count - 1)
    windows = []
    for i in range(count):
        part = samples.select(index == i)
        window = Window(start=i * window_seconds, requests=len(part))
        outcomes, counts = np.unique(part.outcome, return_counts=True)
        window.outcomes = {int(o): int(n) for o, n in zip(outcomes, counts, strict=True)}
        window.latency.add_values(part.latency)
        window.service.add_values(part.service)
        window.bytes_in = int(part.bytes_in.sum())
        window.bytes_out = int(part.bytes_out.sum())
        windows.append(window)
    for window, peak in zip(windows, _peak_in_flight(samples, window_seconds, count), strict=True):
        window.max_in_flight = peak
    return windows


def _peak_in_flight(samples: Samples, window_seconds: float, count: int) -> list[int]:
    """The most requests in flight at once in each window, from each request's start and end (a request
    without a response counts until its service time ended)."""
    ends = samples.start + np.nan_to_num(samples.latency, nan=0.0)
    times = np.concatenate([samples.start, ends])
    steps = np.concatenate([np.ones(len(samples), np.int64), -np.ones(len(samples), np.int64)])
    order = np.lexsort((-steps, times))  # at equal times a start comes first: an instant failure counts
    running = np.cumsum(steps[order])
    index = np.clip((times[order] // window_seconds).astype(np.intp), 0, count - 1)
    peaks = np.zeros(count, np.int64)
    np.maximum.at(peaks, index, running)
    return [int(p) for p in peaks]


def run_result(
    *,
    tool: str,
    target: str,
    samples: Samples,
    windows: list[Window],
    window_seconds: float,
    started_at: float,
    duration: float,
    generator: GeneratorReport,
    sample_budget: int,
    warnings: list[str],
    approximate: str | None = None,
) -> RunResult:
    """A bridged run as the engine reports one: a single measured phase over the tool's requests."""
    complete = len(samples) <= sample_budget and approximate is None
    return RunResult(
        target=target,
        phases=[Phase("run", 0.0, duration, measured=True)],
        samples=samples if complete else Samples.empty(),
        complete=complete,
        windows=windows,
        window_seconds=window_seconds,
        generator=generator,
        sample_budget=sample_budget,
        started_at=started_at,
        duration=duration,
        timed_from="actual-send",
        warnings=warnings,
        generated_by=tool,
        approximate=approximate,
    )
