"""Figures of any stretch of a run, from raw samples when the run kept them all, else from window histograms.

Every per-phase, per-window, per-step and per-payload figure in perf-metrics.json is computed here from the
requests of that stretch itself, so nothing is ever derived from an average of percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.measurements import OUTCOME_NAMES, Outcome, RunResult, Samples, Window
from sk_loadagent.models.metrics import LatencySummary

from ._quantiles import summary_from_histogram, summary_from_seconds

Span = tuple[float, float]


@dataclass
class Figures:
    """What happened to the requests that started in some spans of the run."""

    seconds: float
    requests: int = 0
    outcomes: dict[int, int] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0
    latency: LatencySummary | None = None
    service: LatencySummary | None = None

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.outcomes.items() if code != Outcome.OK)

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def rps(self) -> float | None:
        """Successful responses per second: what the service delivered, not what the generator offered.

        An error answered fast is no throughput; it is counted in ``failed_rps``."""
        return self.outcomes.get(Outcome.OK, 0) / self.seconds if self.seconds > 0 else None

    @property
    def failed_rps(self) -> float | None:
        """Failed requests per second: error responses and requests that got no response."""
        return self.errors / self.seconds if self.seconds > 0 else None

    @property
    def p95(self) -> float | None:
        return self.latency.p95 if self.latency is not None else None

    def error_counts(self) -> dict[str, int]:
        return {
            OUTCOME_NAMES.get(code, f"outcome{code}"): n
            for code, n in sorted(self.outcomes.items())
            if code != Outcome.OK and n > 0
        }

    def dominant_error(self) -> str | None:
        counts = self.error_counts()
        return max(counts, key=lambda name: counts[name]) if counts else None


class RunView:
    """Read-only access to a RunResult by time spans (seconds from t0, half-open ``[start, end)``)."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.exact = result.complete
        samples = result.samples
        if self.exact and samples.start.size > 1 and np.any(np.diff(samples.start) < 0):
            samples = samples.select(np.argsort(samples.start, kind="stable"))
        self._samples = samples
        self._windows = sorted(result.windows, key=lambda w: w.start)
        self._window_starts = np.array([w.start for w in self._windows], dtype=np.float64)

    @property
    def windows(self) -> list[Window]:
        return self._windows

    def figures(self, spans: Sequence[Span]) -> Figures:
        seconds = float(sum(max(0.0, end - start) for start, end in spans))
        if self.exact:
            return self._from_samples(self._sample_index(spans), seconds)
        return self._from_windows(self._windows_in(spans), seconds)

    def figures_by_variant(self, spans: Sequence[Span]) -> dict[int, Figures]:
        """Figures per request template (payload variant); only possible from raw samples."""
        index = self._sample_index(spans)
        seconds = float(sum(max(0.0, end - start) for start, end in spans))
        variants = self._samples.variant[index]
        return {
            int(v): self._from_samples(index[variants == v], seconds) for v in np.unique(variants).tolist()
        }

    def _sample_index(self, spans: Sequence[Span]) -> npt.NDArray[np.intp]:
        starts = self._samples.start
        parts = [
            np.arange(
                int(np.searchsorted(starts, a, side="left")), int(np.searchsorted(starts, b, side="left"))
            )
            for a, b in spans
        ]
        return np.concatenate(parts).astype(np.intp) if parts else np.empty(0, np.intp)

    def _windows_in(self, spans: Sequence[Span]) -> list[Window]:
        picked: list[Window] = []
        for a, b in spans:
            lo = int(np.searchsorted(self._window_starts, a, side="left"))
            hi = int(np.searchsorted(self._window_starts, b, side="left"))
            picked.extend(self._windows[lo:hi])
        return picked

    def _from_samples(self, index: npt.NDArray[np.intp], seconds: float) -> Figures:
        s: Samples = self._samples
        latency = s.latency[index]
        codes = s.outcome[index].astype(np.int64)
        counts = np.bincount(codes[codes >= 0]) if codes.size else np.empty(0, np.int64)
        return Figures(
            seconds=seconds,
            requests=int(index.size),
            outcomes={code: int(n) for code, n in enumerate(counts.tolist()) if n},
            bytes_in=int(s.bytes_in[index].sum()),
            bytes_out=int(s.bytes_out[index].sum()),
            latency=summary_from_seconds(latency),
            service=summary_from_seconds(s.service[index]),
        )

    @staticmethod
    def _from_windows(windows: Sequence[Window], seconds: float) -> Figures:
        latency = LatencyHistogram()
        service = LatencyHistogram()
        outcomes: dict[int, int] = {}
        for w in windows:
            latency.merge(w.latency)
            service.merge(w.service)
            for code, n in w.outcomes.items():
                outcomes[code] = outcomes.get(code, 0) + n
        return Figures(
            seconds=seconds,
            requests=sum(w.requests for w in windows),
            outcomes={code: n for code, n in outcomes.items() if n},
            bytes_in=sum(w.bytes_in for w in windows),
            bytes_out=sum(w.bytes_out for w in windows),
            latency=summary_from_histogram(latency),
            service=summary_from_histogram(service),
        )

    def latency_histogram(self, spans: Sequence[Span]) -> LatencyHistogram:
        """The latencies of the spans as a histogram (exact counts per bucket either way)."""
        if self.exact:
            return LatencyHistogram.from_values(self._samples.latency[self._sample_index(spans)])
        merged = LatencyHistogram()
        for w in self._windows_in(spans):
            merged.merge(w.latency)
        return merged
