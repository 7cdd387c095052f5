"""Recording flow steps: one entry per step call on the hot path, tallies per step and phase at each flush.

A step is timed from the moment it was due (its iteration's intended start for the first step; the end of the
step before plus its think time for the others), so waiting for a client counts, and a slow step delays the
ones after it without hiding. The outcome is the step's own (its checks and extractions included); the raw
samples are kept while the worker's share of the sample budget lasts, like the iteration recorder's.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from sk_loadagent.engine._recorder import _add_counts, _add_histogram
from sk_loadagent.engine.result import Outcome, Phase, Samples, StepTally
from sk_loadagent.histogram import bucket_index

# One step call as the hot path packs it (one struct.pack per call rather than an append per field):
# due, sent, end (NaN: no reply), step, outcome, status, bytes in, bytes out, checks ran (in check_names
# order), checks failed (bit k: check k failed).
_CALL = struct.Struct("=dddhbhqqbq")
_CALL_DTYPE = np.dtype(
    [
        ("due", np.float64),
        ("sent", np.float64),
        ("end", np.float64),
        ("step", np.int16),
        ("outcome", np.int8),
        ("status", np.int16),
        ("bytes_in", np.int64),
        ("bytes_out", np.int64),
        ("ran", np.int8),
        ("failed", np.int64),
    ]
)
assert _CALL_DTYPE.itemsize == _CALL.size


class StepRecorder:
    """One worker's step calls. Times passed in are absolute ``perf_counter`` values; t0 is the start."""

    def __init__(
        self,
        *,
        t0: float,
        phases: Sequence[Phase],
        check_names: Sequence[Sequence[str]],
        late_threshold: float,
        sample_budget: int,
    ) -> None:
        self.t0 = t0
        self._check_names = [list(names) for names in check_names]
        steps = len(self._check_names)
        self.late_threshold = late_threshold
        self.sample_budget = sample_budget
        self._phase_starts = [p.start for p in phases]
        self._phase_bounds = np.array([p.start for p in phases], dtype=np.float64)
        self.tallies = [[StepTally() for _ in phases] for _ in range(steps)]
        self.complete = True
        self._kept: list[Samples] = []
        self._kept_count = 0
        self._calls = bytearray()
        self._pack = _CALL.pack

    def __len__(self) -> int:
        """Step calls recorded since the last flush."""
        return len(self._calls) // _CALL.size

    def record(
        self,
        step: int,
        due: float,
        sent: float,
        end: float,
        outcome: Outcome,
        status: int,
        bytes_in: int,
        bytes_out: int,
        checks_ran: int = 0,
        checks_failed: int = 0,
    ) -> None:
        self._calls += self._pack(
            due, sent, end, step, outcome, status, bytes_in, bytes_out, checks_ran, checks_failed
        )

    def flush(self) -> None:
        if not self._calls:
            return
        calls = np.frombuffer(bytes(self._calls), dtype=_CALL_DTYPE)
        del self._calls[:]
        # Rounded to 1 ns for the reason Recorder.flush gives (t0 + offset - t0 is not exactly the offset).
        due = np.round(calls["due"] - self.t0, 9)
        sent = np.round(calls["sent"] - self.t0, 9)
        end = np.round(calls["end"] - self.t0, 9)
        outcome = calls["outcome"].astype(np.int8)
        status = calls["status"].astype(np.int16)
        step = calls["step"].astype(np.int64)
        bytes_in = calls["bytes_in"].astype(np.int64)
        bytes_out = calls["bytes_out"].astype(np.int64)
        ran = calls["ran"].astype(np.int64)
        failed_bits = calls["failed"].astype(np.int64)
        latency, service = end - due, end - sent
        late = (sent - due) > self.late_threshold
        phase = np.clip(
            np.searchsorted(self._phase_bounds, due, side="right") - 1, 0, len(self._phase_starts) - 1
        )
        nphases = len(self._phase_starts)
        group = step * nphases + phase
        for g in np.unique(group).tolist():
            mask = group == g
            tally = self.tallies[g // nphases][g % nphases]
            part = outcome[mask]
            tally.requests += int(mask.sum())
            tally.errors += int((part != Outcome.OK).sum())
            tally.late += int(late[mask].sum())
            _add_counts(tally.outcomes, part)
            answered = mask & np.isfinite(latency)
            values = latency[answered]
            _add_histogram(tally.latency, values, bucket_index(values))
            served = service[answered]
            _add_histogram(tally.service, served, bucket_index(served))
            tally.bytes_in += int(bytes_in[mask].sum())
            tally.bytes_out += int(bytes_out[mask].sum())
            _count_checks(tally.checks, self._check_names[g // nphases], ran[mask], failed_bits[mask])
        self._keep(
            Samples(due, latency, service, status, outcome, bytes_in, bytes_out, step.astype(np.int16))
        )

    def _keep(self, samples: Samples) -> None:
        if not self.complete:
            return
        if self._kept_count + len(samples) > self.sample_budget:
            self.complete = False
            self._kept.clear()
            return
        self._kept.append(samples)
        self._kept_count += len(samples)

    def samples(self) -> Samples:
        """Every kept step call in due-time order (empty once the budget was exceeded)."""
        if not self.complete:
            return Samples.empty()
        return Samples.concat(self._kept)


def _count_checks(
    into: dict[str, list[int]],
    names: Sequence[str],
    ran: npt.NDArray[np.int64],
    failed: npt.NDArray[np.int64],
) -> None:
    """Passes and failures of each check over a group of calls (``ran``: how many checks each call ran)."""
    for k, name in enumerate(names):
        run = ran > k
        if not run.any():
            continue
        bad = int((run & (((failed >> k) & 1) == 1)).sum())
        counts = into.setdefault(name, [0, 0])
        counts[0] += int(run.sum()) - bad
        counts[1] += bad
