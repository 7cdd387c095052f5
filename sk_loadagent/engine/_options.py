"""How to run a profile (processes, transport, memory budget) and what a progress snapshot says."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sk_loadagent.errors import InputError

if TYPE_CHECKING:
    from sk_loadagent.engine._placement import Placement
    from sk_loadagent.engine._transports.base import Transport

TransportName = Literal["auto", "fast", "httpx"]
DEFAULT_SAMPLE_BUDGET = 2_000_000


@dataclass(frozen=True)
class RunOptions:
    """Knobs of one run that do not change what load is offered, only how it is generated and recorded.

    ``workers=None`` uses every core (``os.cpu_count()``); ``workers=0`` runs in the calling event loop.
    ``transport`` is a name or a transport object (e.g. ``MockTransport``; it must be picklable when
    ``workers`` is not 0). ``sample_budget`` caps the raw samples kept across all workers; beyond it only
    the per-``window_seconds`` aggregates are kept. ``late_threshold_s`` is when a start counts as late.
    After the schedule, the run waits for answers as long as the profile's per-request timeout.
    """

    workers: int | None = None
    transport: TransportName | Transport = "auto"
    sample_budget: int = DEFAULT_SAMPLE_BUDGET
    window_seconds: float = 1.0
    late_threshold_s: float = 0.005
    allow_hosts: Sequence[str] = ()
    progress_interval: float = 1.0
    placement: Placement | None = None  # workers on a cluster's nodes (sk_loadagent.cluster); then
    # ``workers`` is ignored and the placement says how many

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str, object]] = [
            ("workers", self.workers is None or self.workers >= 0, "0 (in-process) or more", self.workers),
            ("sampleBudget", self.sample_budget >= 0, "a number of samples, 0 or more", self.sample_budget),
            ("windowSeconds", _positive(self.window_seconds), "seconds greater than 0", self.window_seconds),
            (
                "lateThreshold",
                _non_negative(self.late_threshold_s),
                "seconds, 0 or more",
                self.late_threshold_s,
            ),
            (
                "progressInterval",
                _positive(self.progress_interval) and self.progress_interval >= 0.05,
                "seconds, 0.05 or more (workers report on a 50 ms tick)",
                self.progress_interval,
            ),
        ]
        for name, ok, expected, got in checks:
            if not ok:
                raise InputError.single("run options", name, expected, repr(got))
        if isinstance(self.transport, str) and self.transport not in ("auto", "fast", "httpx"):
            raise InputError.single("run options", "transport", "auto, fast or httpx", repr(self.transport))
        if isinstance(self.allow_hosts, str):
            raise InputError.single(
                "run options", "allowHosts", "a list of host names", repr(self.allow_hosts)
            )

    def worker_count(self) -> int:
        """Processes to start; 0 means the calling event loop generates the load itself."""
        if self.workers is None:
            return os.cpu_count() or 1
        return self.workers


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0


@dataclass(frozen=True)
class Progress:
    """A snapshot during a run, merged over all workers.

    ``rps`` and ``p95_ms`` cover the last progress interval (responses in it); the counters are totals.
    """

    elapsed: float
    remaining: float
    phase: str
    rps: float
    p95_ms: float | None
    errors: int
    requests: int
    in_flight: int
    late_starts: int
