"""What a run observes besides its own timings, from the first test to the last: spans (an OTLP receiver,
Collector files), joined to each test by the trace ids its sampled requests carried, and a Prometheus
scraper per test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sk_loadagent.engine import LoadProfile, Progress
from sk_loadagent.engine._trace import TraceContext
from sk_loadagent.errors import InputError
from sk_loadagent.measurements import SpanRecord
from sk_loadagent.models.observability import ObservabilityConfig
from sk_loadagent.observability._config import receiver_address, serve_address
from sk_loadagent.observability._file import read_span_file
from sk_loadagent.observability._live import LiveMetrics
from sk_loadagent.observability._prometheus import PrometheusScraper
from sk_loadagent.observability._pyspy import CpuProfiler
from sk_loadagent.observability._receiver import SpanReceiver, SpanStore

QUIET_SECONDS = 1.0  # no new spans for this long after the last test: the services have flushed
MAX_WAIT_SECONDS = 6.0  # an OTel SDK's batch processor exports every 5 s by default
DEFAULT_SCRAPE_INTERVAL = 1.0
START_DELAY_S = 0.5  # about how long the engine takes from the call to its t0 (workers starting)


@dataclass
class SpanHarvest:
    """The spans of one test's sampled traces, and what was received but could not be used."""

    traces: dict[str, list[SpanRecord]] = field(default_factory=dict)
    malformed: int = 0
    dropped: int = 0
    sources: list[str] = field(default_factory=list)


class Observation:
    """Started before the first test and finished after the last (``with``)."""

    def __init__(self, config: ObservabilityConfig, source: str, trace_id: str) -> None:
        self.config = config
        self.source = source
        self.trace_id = trace_id
        self.store = SpanStore()
        self.receivers: list[SpanReceiver] = []
        self._file_malformed = 0
        self._files_read = False
        self.live: LiveMetrics | None = None

    def __enter__(self) -> Observation:
        try:
            if self.config.serve_metrics is not None:
                self.live = self._serve(self.config.serve_metrics)
            for i, span_source in enumerate(self.config.spans or []):
                if span_source.source == "otlp" and span_source.is_enabled:
                    self.receivers.append(self._listen(i, span_source.url))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _listen(self, index: int, url: str | None) -> SpanReceiver:
        host, port = receiver_address(url)
        try:
            return SpanReceiver(host, port, self.store).start()
        except OSError as exc:
            field = f"spans[{index}].url"
            raise InputError.single(
                self.source, field, "a free loopback port to listen on", f"{host}:{port} ({exc.strerror})"
            ) from None

    def __exit__(self, *exc: object) -> None:
        for receiver in self.receivers:
            receiver.stop()
        self.receivers = []
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _serve(self, address: str) -> LiveMetrics:
        host, port = serve_address(address)
        try:
            return LiveMetrics(host, port)
        except OSError as exc:
            raise InputError.single(
                self.source,
                "serveMetrics",
                "a free loopback port to listen on",
                f"{host}:{port} ({exc.strerror})",
            ) from None

    def progress(
        self, report: Callable[[str, Progress], None] | None
    ) -> Callable[[str, Progress], None] | None:
        """``report`` that also feeds the run's /metrics (when served)."""
        live = self.live
        if live is None:
            return report

        def both(test: str, snapshot: Progress) -> None:
            live.update(test, snapshot)
            if report is not None:
                report(test, snapshot)

        return both

    def scraper(self) -> PrometheusScraper | None:
        """A scraper of the first enabled Prometheus source (one per test), or None."""
        for source in self.config.sources("metrics", "prometheus"):
            if source.url is not None:
                interval = source.interval if source.interval is not None else DEFAULT_SCRAPE_INTERVAL
                return PrometheusScraper(source.url, interval, source.series)
        return None

    def cpu_profiler(self, profile: LoadProfile, pid: int | None) -> CpuProfiler | None:
        """py-spy over the steady phase (the measured phases) of a local target, when the config asks."""
        measured = [p for p in profile.phases if p.measured]
        if self.config.cpu_profile != "py-spy" or pid is None or not measured:
            return None
        start, end = measured[0].start, measured[-1].end
        return CpuProfiler(pid, delay=start + START_DELAY_S, duration=end - start)

    def trace_context(self, test: str) -> TraceContext:
        return TraceContext.for_test(self.config.sampling_ratio, self.trace_id, test)

    async def wait_for_spans(self, started: float) -> None:
        """After the last test: until spans stop arriving (or the batch processors' longest delay passed)."""
        if not self.receivers:
            return
        deadline = started + MAX_WAIT_SECONDS
        while time.monotonic() < deadline:
            last = max(self.store.received_at, started)
            if time.monotonic() - last >= QUIET_SECONDS and self.store.received_at:
                return
            await asyncio.sleep(0.1)

    def harvest(self, trace_ids: set[str]) -> SpanHarvest:
        """The spans of ``trace_ids`` from every source."""
        if not self._files_read:
            self._files_read = True
            for i, span_source in enumerate(self.config.spans or []):
                if span_source.source == "file" and span_source.is_enabled and span_source.path:
                    records, bad = read_span_file(span_source.path, self.source, f"spans[{i}].path")
                    self.store.add(records, time.monotonic())
                    self._file_malformed += bad
        return SpanHarvest(
            traces=self.store.traces(trace_ids),
            malformed=self.store.malformed + self._file_malformed,
            dropped=self.store.dropped,
            sources=[r.url for r in self.receivers] + [s.path for s in self.config.spans or [] if s.path],
        )
