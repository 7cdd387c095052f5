"""Builders for RunResults with known contents: samples and windows made from the same arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.measurements import GeneratorReport, Outcome, Phase, RunResult, Samples, Window

T0 = 1_700_000_000.0


def make_generator(**overrides: Any) -> GeneratorReport:
    values: dict[str, Any] = {
        "requests": 1000,
        "cpu_seconds": 1.0,
        "wall_seconds": 10.0,
        "late_starts": 0,
        "dropped": 0,
        "workers": 1,
        "transport": "fast",
        "max_in_flight": 4,
        "connections_opened": 4,
    }
    values.update(overrides)
    return GeneratorReport(**values)


def make_run(
    starts: Sequence[float],
    latencies: Sequence[float],
    *,
    phases: list[Phase],
    outcomes: Sequence[int] | None = None,
    variants: Sequence[int] | None = None,
    complete: bool = True,
    window_seconds: float = 1.0,
    payload_sizes: Sequence[int] = (),
    extra: dict[str, object] | None = None,
    generator: GeneratorReport | None = None,
    bytes_in: int = 100,
    bytes_out: int = 50,
) -> RunResult:
    """Latencies in seconds (NaN: no response); each request has ``bytes_in``/``bytes_out`` bytes."""
    start = np.asarray(starts, dtype=np.float64)
    latency = np.asarray(latencies, dtype=np.float64)
    n = start.size
    outcome = np.asarray(outcomes if outcomes is not None else [Outcome.OK] * n, dtype=np.int8)
    samples = Samples(
        start=start,
        latency=latency,
        service=latency * 0.9,
        status=np.where(outcome == Outcome.OK, 200, 500).astype(np.int16),
        outcome=outcome,
        bytes_in=np.full(n, bytes_in, dtype=np.int64),
        bytes_out=np.full(n, bytes_out, dtype=np.int64),
        variant=np.asarray(variants if variants is not None else [0] * n, dtype=np.int16),
    )
    duration = max(p.end for p in phases)
    windows = []
    for k in range(int(np.ceil(duration / window_seconds))):
        a = k * window_seconds
        mask = (start >= a) & (start < a + window_seconds)
        codes = outcome[mask]
        windows.append(
            Window(
                start=a,
                requests=int(mask.sum()),
                outcomes={int(c): int((codes == c).sum()) for c in np.unique(codes)},
                latency=LatencyHistogram.from_values(latency[mask]),
                service=LatencyHistogram.from_values(latency[mask] * 0.9),
                bytes_in=int(mask.sum()) * bytes_in,
                bytes_out=int(mask.sum()) * bytes_out,
                max_in_flight=3,
            )
        )
    return RunResult(
        target="http://127.0.0.1:9/x",
        phases=phases,
        samples=samples if complete else Samples.empty(),
        complete=complete,
        windows=windows,
        window_seconds=window_seconds,
        generator=generator or make_generator(requests=n),
        sample_budget=1_000_000 if complete else 10,
        started_at=T0,
        duration=duration,
        variants=list(payload_sizes),
        extra=extra or {},
    )


def uniform_starts(start: float, end: float, rate: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Intended starts of an open-model schedule at ``rate`` per second, half a gap off the boundaries."""
    count = round((end - start) * rate)
    return start + (np.arange(count) + 0.5) / rate


@pytest.fixture
def run_factory() -> Callable[..., RunResult]:
    return make_run


@pytest.fixture
def generator_factory() -> Callable[..., GeneratorReport]:
    return make_generator


@pytest.fixture
def starts_factory() -> Callable[..., np.ndarray[Any, np.dtype[np.float64]]]:
    return uniform_starts
