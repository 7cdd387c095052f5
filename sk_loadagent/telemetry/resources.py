"""Resource samples of the target process, as plain arrays aligned to wall-clock time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass
class ResourceSamples:
    """CPU and memory of one process (and its children) sampled at a fixed interval.

    ``t`` is wall-clock time (``time.time()``), so it lines up with ``RunResult.started_at``;
    ``cpu_pct`` is percent of one core (top's convention: a busy two-thread process can show 200);
    ``cpu_quota_cores`` is the number of cores the service may use, to turn that into a share.
    """

    pid: int
    t: npt.NDArray[np.float64]
    cpu_pct: npt.NDArray[np.float64]
    rss_mb: npt.NDArray[np.float64]
    cpu_quota_cores: float
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.t.size)

    def between(self, start: float, end: float) -> ResourceSamples:
        """The samples taken in [start, end] (wall-clock)."""
        keep = (self.t >= start) & (self.t <= end)
        return ResourceSamples(
            self.pid,
            self.t[keep],
            self.cpu_pct[keep],
            self.rss_mb[keep],
            self.cpu_quota_cores,
            list(self.notes),
        )
