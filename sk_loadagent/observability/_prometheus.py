"""Scraping the target's Prometheus endpoint during a test, so its resources are measured on any host.

Every ``interval`` a thread of the coordinating process GETs the exposition text and reads four resources
from the series that carry them (the config's ``series`` first, then the defaults below: prometheus-client's
``process_*`` and ``python_gc_*`` and the OpenTelemetry semantic-convention names). Counters (CPU seconds,
GC collections) become rates between consecutive scrapes; gauges (memory, queue depth) are read as they are;
series with labels are summed. A scrape that fails or is not exposition text is counted and skipped; when
none succeeds, nothing was measured and the run says so (``ScrapedMetrics.warnings``).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
import numpy.typing as npt

from sk_loadagent.extras import require
from sk_loadagent.measurements import ResourceSamples

DEFAULT_SERIES: dict[str, tuple[str, ...]] = {
    "cpu": ("process_cpu_seconds_total", "process_cpu_time_seconds_total"),
    "memory": ("process_resident_memory_bytes", "process_memory_usage_bytes"),
    "gc": (
        "python_gc_collections_total",
        "cpython_gc_collections_total",
        "process_runtime_cpython_gc_count_total",
    ),
    "queue": ("queue_depth", "messaging_queue_depth"),
}
_COUNTERS = ("cpu", "gc")
_TIMEOUT = 2.0


@dataclass
class ScrapedMetrics:
    """What the scrapes of one test measured (NaN where a resource's series was absent)."""

    url: str
    t: list[float] = field(default_factory=list)  # wall-clock time of each successful scrape
    values: dict[str, list[float]] = field(default_factory=dict)  # raw value per resource per scrape
    scrapes: int = 0
    failures: int = 0
    last_failure: str | None = None

    def rates(self, resource: str) -> npt.NDArray[np.float64]:
        """Per-second rate of a counter between consecutive scrapes (len t - 1), NaN across a reset."""
        t = np.asarray(self.t, dtype=np.float64)
        v = np.asarray(self.values.get(resource, []), dtype=np.float64)
        if t.size < 2 or v.size != t.size:
            return np.empty(0, dtype=np.float64)
        rate: npt.NDArray[np.float64] = np.diff(v) / np.diff(t)
        rate[rate < 0] = np.nan  # the target restarted
        return rate

    def measured(self, resource: str) -> bool:
        return any(math.isfinite(x) for x in self.values.get(resource, []))

    def resources(self) -> ResourceSamples | None:
        """CPU (percent of one core) and RSS as resource samples, as the local sampler gives them."""
        if len(self.t) < 2 or not (self.measured("cpu") or self.measured("memory")):
            return None
        t = np.asarray(self.t[1:], dtype=np.float64)
        cpu = self.rates("cpu") * 100.0 if self.measured("cpu") else np.full(t.size, np.nan)
        memory = np.asarray(self.values.get("memory", [math.nan] * len(self.t))[1:], dtype=np.float64) / 2**20
        notes = [f"scraped from {self.url}"]
        return ResourceSamples(pid=0, t=t, cpu_pct=cpu, rss_mb=memory, cpu_quota_cores=0.0, notes=notes)

    @property
    def warnings(self) -> list[str]:
        if self.scrapes and not self.t:
            return [
                f"Prometheus {self.url}: none of {self.scrapes} scrapes succeeded ({self.last_failure}); the "
                "target's resources were not measured"
            ]
        if self.failures:
            return [
                f"Prometheus {self.url}: {self.failures} of {self.scrapes} scrapes failed "
                f"({self.last_failure})"
            ]
        return []


def read_exposition(text: str, series: dict[str, tuple[str, ...]]) -> dict[str, float]:
    """The value of each resource in one exposition text (summed over label sets); ValueError if the text is
    not the exposition format."""
    parser = require("prometheus_client.parser", "observability", "Prometheus scrapes")
    totals: dict[str, float] = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + float(sample.value)
    found: dict[str, float] = {}
    for resource, names in series.items():
        for name in names:
            if name in totals:
                found[resource] = totals[name]
                break
    return found


class PrometheusScraper:
    """Scrapes ``url`` every ``interval`` seconds on its own thread between ``start`` and ``stop``."""

    def __init__(self, url: str, interval: float, series: dict[str, str] | None = None) -> None:
        self.interval = interval
        self.series = {
            r: ((series or {})[r], *names) if r in (series or {}) else names
            for r, names in DEFAULT_SERIES.items()
        }
        self.result = ScrapedMetrics(url=url, values={r: [] for r in DEFAULT_SERIES})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prometheus-scrape", daemon=True)

    def start(self) -> PrometheusScraper:
        self._thread.start()
        return self

    def stop(self) -> ScrapedMetrics:
        self._stop.set()
        self._thread.join(timeout=_TIMEOUT + 1)
        return self.result

    def _run(self) -> None:
        with httpx.Client(timeout=min(_TIMEOUT, max(0.2, self.interval)), trust_env=False) as client:
            while not self._stop.is_set():
                self.scrape(client)
                self._stop.wait(self.interval)

    def scrape(self, client: httpx.Client) -> None:
        result = self.result
        result.scrapes += 1
        try:
            response = client.get(result.url)
            response.raise_for_status()
            found = read_exposition(response.text, self.series)
        except (httpx.HTTPError, ValueError, UnicodeDecodeError) as exc:
            result.failures += 1
            result.last_failure = f"{type(exc).__name__}: {str(exc)[:120]}"
            return
        if not found:
            result.failures += 1
            result.last_failure = "none of the configured series in the answer"
            return
        result.t.append(time.time())
        for resource in DEFAULT_SERIES:
            result.values[resource].append(found.get(resource, math.nan))
