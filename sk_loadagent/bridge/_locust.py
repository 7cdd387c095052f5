"""Locust: the command that runs a user's locustfile headless, and its final stats read into one window.

Locust keeps no raw samples: its stats hold each request's response time rounded (to 1 ms below 100 ms,
10 ms below 1 s, 100 ms below 10 s, 1 s above), counted per rounded value. Those counts become one latency
histogram over the whole run, so the percentiles are approximate and say so. ``--json-file`` is read rather
than the CSV files for the counts, because the CSV stats can miss the last second (a run's final CSV rows
were seen to count 20 of 35 requests); the failures CSV gives the error messages that classify failures.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from sk_loadagent.histogram import LatencyHistogram, bucket_index
from sk_loadagent.measurements import Outcome, Window

GUARD = Path(__file__).with_name("_locust_guard.py")
APPROXIMATE = (
    "Locust gives no raw samples, only response times rounded to 1 ms below 100 ms, 10 ms below 1 s and "
    "100 ms below 10 s: percentiles are over those rounded times, in one histogram for the whole run"
)


def command(binary: str, script: Path, folder: Path, base_url: str, users: int, seconds: float) -> list[str]:
    """Locust headless for ``seconds``, ``users`` spawned at once, the guard loaded beside the locustfile,
    final stats to ``folder/stats.json`` and the CSV files to ``folder/locust_*.csv``."""
    return [
        binary,
        "--locustfile",
        f"{script},{GUARD}",
        "--headless",
        "--host",
        base_url,
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        f"{max(1, math.ceil(seconds))}s",
        "--json-file",
        str(folder / "stats"),
        "--csv",
        str(folder / "locust"),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]


def error_line(stdout: str, stderr: str) -> str:
    """Locust's own message for a locustfile that did not run: its last ERROR log line, else the exception
    line of its traceback (the greenlet noise Locust prints at exit, after it, is left out)."""
    text = stderr.split("Exception ignored in:", 1)[0]
    logged = [line.split(": ", 1)[-1] for line in text.splitlines() if "/ERROR/" in line]
    if logged:
        return logged[-1].strip()
    lines = [x for x in text.splitlines() if x.strip() and not x.startswith((" ", "\t", "Traceback"))]
    lines = lines or [x.strip() for x in (text + "\n" + stdout).splitlines() if x.strip()]
    return lines[-1].strip() if lines else "(locust printed nothing)"


def _failure_outcome(message: str) -> Outcome:
    text = message.lower()
    if "connectionrefused" in text or "connection refused" in text:
        return Outcome.CONNECT_REFUSED
    if "timeout" in text or "timed out" in text:
        return Outcome.TIMEOUT
    if "reset" in text:
        return Outcome.RESET
    if "ssl" in text or "certificate" in text:
        return Outcome.TLS
    for word in text.replace("(", " ").replace("'", " ").split():
        if word.isdigit() and len(word) == 3:
            status = int(word)
            if 400 <= status < 500:
                return Outcome.HTTP_4XX
            if 500 <= status < 600:
                return Outcome.HTTP_5XX
    if "connect" in text or "resolve" in text or "name or service" in text:
        return Outcome.CONNECT_ERROR
    return Outcome.CLIENT_ERROR  # a failure the locustfile raised itself (catch_response, an exception)


@dataclass
class LocustStats:
    """Locust's final stats over every request name, added up."""

    requests: int = 0
    failures: int = 0
    start: float = math.inf  # epoch seconds
    last: float = -math.inf
    bytes_in: int = 0
    total_ms: float = 0.0
    min_ms: float = math.inf
    max_ms: float = -math.inf
    rounded_ms: Counter[float] = field(default_factory=Counter)
    failure_kinds: Counter[int] = field(default_factory=Counter)

    def read(self, folder: Path) -> bool:
        """Read ``stats.json`` (and the failures CSV); False when Locust wrote no stats."""
        path = folder / "stats.json"
        if not path.is_file() or not path.read_bytes().strip():
            return False
        for entry in orjson.loads(path.read_bytes()):
            self.requests += int(entry["num_requests"])
            self.failures += int(entry["num_failures"])
            self.bytes_in += int(entry.get("total_content_length") or 0)
            self.total_ms += float(entry.get("total_response_time") or 0.0)
            if entry["num_requests"]:
                self.start = min(self.start, float(entry["start_time"]))
                self.last = max(self.last, float(entry["last_request_timestamp"] or entry["start_time"]))
                self.min_ms = min(self.min_ms, float(entry["min_response_time"] or 0.0))
                self.max_ms = max(self.max_ms, float(entry["max_response_time"] or 0.0))
            for value, count in (entry.get("response_times") or {}).items():
                self.rounded_ms[float(value)] += int(count)
        self._failures(folder / "locust_failures.csv")
        return True

    def _failures(self, path: Path) -> None:
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as rows:
                for row in csv.DictReader(rows):
                    self.failure_kinds[int(_failure_outcome(row.get("Error") or ""))] += int(
                        row.get("Occurrences") or 0
                    )
        # The CSV can lag the final stats: failures it does not name count as the most frequent kind.
        named = sum(self.failure_kinds.values())
        if self.failures > named:
            kind = self.failure_kinds.most_common(1)[0][0] if named else int(Outcome.CLIENT_ERROR)
            self.failure_kinds[kind] += self.failures - named
        elif named > self.failures:
            self.failure_kinds = Counter(dict(self.failure_kinds.most_common()))
            _trim(self.failure_kinds, named - self.failures)

    @property
    def duration(self) -> float:
        return max(self.last - self.start, 1e-3) if self.requests else 1e-3

    def window(self) -> Window:
        """The whole run as one window: its requests, outcomes and the rounded response times."""
        window = Window(start=0.0, requests=self.requests, bytes_in=self.bytes_in)
        window.outcomes = {int(Outcome.OK): self.requests - self.failures, **dict(self.failure_kinds)}
        window.outcomes = {k: v for k, v in window.outcomes.items() if v}
        window.latency = _histogram(self.rounded_ms, self.total_ms, self.min_ms, self.max_ms)
        window.service = _histogram(self.rounded_ms, self.total_ms, self.min_ms, self.max_ms)
        return window


def _trim(kinds: Counter[int], excess: int) -> None:
    for kind in sorted(kinds, key=kinds.__getitem__):
        cut = min(kinds[kind], excess)
        kinds[kind] -= cut
        excess -= cut


def _histogram(rounded_ms: Counter[float], total_ms: float, min_ms: float, max_ms: float) -> LatencyHistogram:
    histogram = LatencyHistogram()
    if not rounded_ms:
        return histogram
    values = np.asarray(list(rounded_ms.keys()), dtype=np.float64) / 1000.0
    counts = np.asarray(list(rounded_ms.values()), dtype=np.int64)
    np.add.at(histogram.counts, bucket_index(values), counts)
    histogram.total = total_ms / 1000.0
    histogram.min = min_ms / 1000.0
    histogram.max = max_ms / 1000.0
    return histogram
