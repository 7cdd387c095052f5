"""Recording finished requests: cheap appends on the hot path, numpy aggregation per flush.

The transports append one entry per finished request to ``array`` buffers (absolute ``perf_counter`` times,
no per-request objects). ``flush`` turns the buffers into numpy arrays, adds them to the always-kept windows
(counts per Outcome, latency and service-time histograms, bytes) and per-phase tallies, and keeps them as raw
samples while the worker's share of the sample budget lasts.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sk_loadagent.engine.result import Outcome, Phase, Samples, Window
from sk_loadagent.histogram import NBINS, LatencyHistogram, bucket_index

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class PhaseTally:
    """What one worker saw of one phase: by intended start, except ``responses`` (by arrival time)."""

    requests: int = 0
    errors: int = 0
    late: int = 0
    dropped: int = 0
    responses: int = 0  # responses (any status) that arrived while the phase ran: its achieved throughput
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    outcomes: dict[int, int] = field(default_factory=dict)


@dataclass
class Interval:
    """Counts since the last progress snapshot."""

    responses: int = 0
    requests: int = 0
    errors: int = 0
    late: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


class Recorder:
    """One worker's measurements. Times passed in are absolute ``perf_counter`` values; t0 is the start."""

    def __init__(
        self,
        *,
        t0: float,
        window_seconds: float,
        phases: Sequence[Phase],
        late_threshold: float,
        sample_budget: int,
        bytes_out: Sequence[int],
        outcome_table: npt.NDArray[np.int8],
    ) -> None:
        self.t0 = t0
        self.window_seconds = window_seconds
        self.late_threshold = late_threshold
        self.sample_budget = sample_budget
        self._bytes_out = np.asarray(bytes_out, dtype=np.int64)
        self._table = outcome_table
        self._phase_starts = [p.start for p in phases]
        self._phase_bounds = np.array([*self._phase_starts, phases[-1].end], dtype=np.float64)
        self.phases = [PhaseTally() for _ in phases]
        self.windows: dict[int, Window] = {}
        self.complete = True
        self._parts: list[_Kept] = []
        self._recent: list[int] = []  # flushes kept since the last consolidation
        self._kept = 0
        self.interval = Interval()
        self.requests = 0
        self.responses = 0
        self.errors = 0
        self.late = 0
        self.connect_failures = 0
        # Hot-path buffers: never rebound, so transports may cache their bound ``append`` methods.
        self.start = array("d")
        self.sent = array("d")
        self.end = array("d")
        self.code = array("h")  # HTTP status, or -Outcome for a request that ended without one (see ended)
        self.nbytes = array("q")
        self.variant = array("h")

    def keep_no_samples(self) -> None:
        """Keep only the windows from the start: the schedule alone is known to exceed the sample budget, so
        raw samples kept now would be dropped later anyway, after making the worker's memory peak."""
        self.complete = False

    def set_request_bytes(self, bytes_out: Sequence[int]) -> None:
        """Bytes each request template puts on the wire (known once the transport is bound)."""
        self._bytes_out = np.asarray(bytes_out, dtype=np.int64)

    # -- hot path helpers (transports usually append directly) ---------------------------------------------
    def response(
        self, intended: float, sent: float, end: float, status: int, nbytes: int, variant: int
    ) -> None:
        self.start.append(intended)
        self.sent.append(sent)
        self.end.append(end)
        self.code.append(status)
        self.nbytes.append(nbytes)
        self.variant.append(variant)

    def failure(self, intended: float, sent: float, outcome: Outcome, nbytes: int, variant: int) -> None:
        """A request that ended without a response (latency NaN)."""
        self.start.append(intended)
        self.sent.append(sent)
        self.end.append(math.nan)
        self.code.append(-int(outcome))
        self.nbytes.append(nbytes)
        self.variant.append(variant)

    def ended(self, intended: float, sent: float, end: float, outcome: Outcome) -> None:
        """A unit of work without an HTTP status of its own (a flow iteration): ``end`` NaN when it got no
        answer at all, else its outcome (``Outcome.OK`` or the class it failed with) counts with a latency."""
        self.start.append(intended)
        self.sent.append(sent)
        self.end.append(end)
        self.code.append(-outcome)
        self.nbytes.append(0)
        self.variant.append(0)

    def dropped(self, intended: float) -> None:
        """A scheduled request that was never sent."""
        self.phases[self.phase_index(intended - self.t0)].dropped += 1

    def phase_index(self, t: float) -> int:
        return max(0, bisect.bisect_right(self._phase_starts, round(t, 9)) - 1)  # 1 ns: see flush

    def note_in_flight(self, now: float, in_flight: int) -> None:
        window = self._window(int((now - self.t0) // self.window_seconds))
        if in_flight > window.max_in_flight:
            window.max_in_flight = in_flight

    # -- aggregation ---------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Move buffered requests into windows, phase tallies, progress counts and (within budget) samples."""
        n = len(self.start)
        if n == 0:
            return
        # Intended starts are t0 + a schedule offset; subtracting t0 back leaves float noise (1.0 comes
        # back as 0.9999999999998) that would put a request in the previous window or phase. Offsets
        # and clock readings are exact to 1 ns, so rounding every time to 1 ns restores them.
        start = np.round(_floats(self.start) - self.t0, 9)
        sent = np.round(_floats(self.sent) - self.t0, 9)
        end = np.round(_floats(self.end) - self.t0, 9)
        code = _ints(self.code, np.int16)
        nbytes = _ints(self.nbytes, np.int64)
        variant = _ints(self.variant, np.int16)
        has_status = code > 0
        outcome = np.where(has_status, self._table[np.clip(code, 0, 599)], -code).astype(np.int8)
        # Answered: a response (any status) or a unit of work that ended with one; failures have no end.
        answered = np.isfinite(end)
        s = Samples(
            start=start,
            latency=end - start,
            service=end - sent,
            status=np.where(has_status, code, 0).astype(np.int16),
            outcome=outcome,
            bytes_in=nbytes,
            bytes_out=self._sent_bytes(outcome, variant),
            variant=variant.astype(np.int16),
        )
        batch = _Batch(s, late=(sent - start) > self.late_threshold)
        self._add_windows(batch)
        self._add_phases(batch, end[answered])
        self._add_totals(batch, int(answered.sum()))
        self._keep(s)

    def _add_windows(self, b: _Batch) -> None:
        index = (b.s.start // self.window_seconds).astype(np.int64)
        for w, mask in _groups(index):
            window = self._window(w)
            part = b.part(mask)
            window.requests += part.n
            _add_counts(window.outcomes, part.outcome)
            _add_histogram(window.latency, part.latency, part.latency_buckets)
            _add_histogram(window.service, part.service, part.service_buckets)
            window.bytes_in += part.bytes_in
            window.bytes_out += part.bytes_out

    def _add_phases(self, b: _Batch, response_ends: FloatArray) -> None:
        index = np.searchsorted(self._phase_bounds[:-1], b.s.start, side="right") - 1
        np.clip(index, 0, len(self.phases) - 1, out=index)
        for p, mask in _groups(index):
            tally = self.phases[p]
            part = b.part(mask)
            tally.requests += part.n
            tally.errors += part.errors
            tally.late += part.late
            _add_histogram(tally.latency, part.latency, part.latency_buckets)
            _add_counts(tally.outcomes, part.outcome)
        arrived = np.searchsorted(self._phase_bounds, response_ends, side="right") - 1
        counts = np.bincount(
            arrived[(arrived >= 0) & (arrived < len(self.phases))], minlength=len(self.phases)
        )
        for p, c in enumerate(counts.tolist()):
            self.phases[p].responses += c

    def _add_totals(self, b: _Batch, responses: int) -> None:
        whole = b.part(None)
        connect = int(_unsent(whole.outcome).sum())
        self.requests += whole.n
        self.responses += responses
        self.errors += whole.errors
        self.late += whole.late
        self.connect_failures += connect
        iv = self.interval
        iv.requests += whole.n
        iv.responses += responses
        iv.errors += whole.errors
        iv.late += whole.late
        _add_histogram(iv.latency, whole.latency, whole.latency_buckets)

    def _keep(self, s: Samples) -> None:
        if not self.complete:
            return
        if self._kept + len(s) > self.sample_budget:
            # Over budget: drop every raw sample; the windows hold everything analysis needs (±1 %).
            self.complete = False
            self._parts.clear()
            self._recent.clear()
            self._kept = 0
            return
        self._parts.append(_Kept.of(s))
        self._kept += len(s)
        if len(self._recent) + 1 >= _CONSOLIDATE:
            # Small flush-sized arrays fragment the heap; large ones are mapped and unmapped whole, so the
            # memory really returns when the budget switch drops them.
            recent = self._parts[-_CONSOLIDATE:]
            del self._parts[-_CONSOLIDATE:]
            self._parts.append(_Kept.join(recent))
            self._recent = []
        else:
            self._recent.append(len(s))

    def take_interval(self) -> Interval:
        interval, self.interval = self.interval, Interval()
        return interval

    def samples(self) -> Samples:
        """Every kept raw sample, in intended-start order (empty once the budget was exceeded)."""
        if not self.complete or not self._parts:
            return Samples.empty()
        kept = _Kept.join(self._parts)
        merged = Samples(
            start=kept.start,
            latency=kept.latency,
            service=kept.service,
            status=kept.status,
            outcome=kept.outcome,
            bytes_in=kept.bytes_in.astype(np.int64),
            bytes_out=self._sent_bytes(kept.outcome, kept.variant),
            variant=kept.variant,
        )
        return merged.select(np.argsort(merged.start, kind="stable"))

    def _sent_bytes(
        self, outcome: npt.NDArray[np.integer[Any]], variant: npt.NDArray[np.integer[Any]]
    ) -> npt.NDArray[np.int64]:
        """Bytes each request put on the wire: its template's, none when it never connected."""
        return np.where(_unsent(outcome), 0, self._bytes_out[variant])

    def _window(self, index: int) -> Window:
        window = self.windows.get(index)
        if window is None:
            window = self.windows[index] = Window(start=index * self.window_seconds)
        return window


_CONSOLIDATE = 64


def _unsent(outcome: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.bool_]:
    # Comparisons: np.isin costs about 4x as much on a flush-sized array. A failed TLS handshake sent no
    # request either (an alert after it, rarer, is counted the same way).
    return np.asarray(
        (outcome == Outcome.CONNECT_REFUSED) | (outcome == Outcome.CONNECT_ERROR) | (outcome == Outcome.TLS),
        dtype=np.bool_,
    )


@dataclass
class _Kept:
    """Raw samples as a worker keeps them until the end of the run: 33 bytes a request instead of 45.

    ``bytes_out`` follows from the variant and the outcome, so it is rebuilt at the end; ``bytes_in`` is
    kept in 32 bits while every response is under 2 GiB. At 10,000 rps the budget fills in minutes, so these
    bytes are what a soak's memory peak is made of.
    """

    start: FloatArray
    latency: FloatArray
    service: FloatArray
    status: npt.NDArray[np.int16]
    outcome: npt.NDArray[np.int8]
    bytes_in: npt.NDArray[np.signedinteger[Any]]
    variant: npt.NDArray[np.int16]

    @classmethod
    def of(cls, s: Samples) -> _Kept:
        small = s.bytes_in.size == 0 or int(s.bytes_in.max()) < _INT32_LIMIT
        bytes_in = s.bytes_in.astype(np.int32) if small else s.bytes_in
        return cls(s.start, s.latency, s.service, s.status, s.outcome, bytes_in, s.variant)

    @classmethod
    def join(cls, parts: list[_Kept]) -> _Kept:
        """Concatenate in order (no sort: ``Recorder.samples`` sorts once)."""
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _KEPT_FIELDS))


_INT32_LIMIT = 2**31
_KEPT_FIELDS = ("start", "latency", "service", "status", "outcome", "bytes_in", "variant")


def _floats(buffer: array[float]) -> FloatArray:
    """Copy a hot-path buffer into numpy and empty it in place (its bound ``append`` stays valid)."""
    values = np.frombuffer(buffer, dtype=np.float64).copy()
    del buffer[:]
    return values


def _ints(buffer: array[int], dtype: type[np.signedinteger[Any]]) -> IntArray:
    values = np.frombuffer(buffer, dtype=dtype).astype(np.int64)
    del buffer[:]
    return values


class _Part:
    """A subset of a batch (one window or phase), with what the aggregates need."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "errors",
        "late",
        "latency",
        "latency_buckets",
        "n",
        "outcome",
        "service",
        "service_buckets",
    )

    def __init__(self, b: _Batch, mask: npt.NDArray[np.bool_] | None) -> None:
        s = b.s
        if mask is None:
            self.n = len(s)
            self.outcome = s.outcome
            self.late = int(b.late.sum())
            self.bytes_in = int(s.bytes_in.sum())
            self.bytes_out = int(s.bytes_out.sum())
            self.latency, self.service = b.latency, b.service
            self.latency_buckets, self.service_buckets = b.latency_buckets, b.service_buckets
        else:
            self.n = int(mask.sum())
            self.outcome = s.outcome[mask]
            self.late = int(b.late[mask].sum())
            self.bytes_in = int(s.bytes_in[mask].sum())
            self.bytes_out = int(s.bytes_out[mask].sum())
            answered = mask[b.answered_index]  # which answered requests fall in this part
            self.latency, self.service = b.latency[answered], b.service[answered]
            self.latency_buckets, self.service_buckets = (
                b.latency_buckets[answered],
                b.service_buckets[answered],
            )
        self.errors = int((self.outcome != Outcome.OK).sum())


class _Batch:
    """One flush's samples with the histogram buckets of their latencies computed once."""

    def __init__(self, s: Samples, late: npt.NDArray[np.bool_]) -> None:
        self.s = s
        self.late = late
        finite = np.isfinite(s.latency)
        self.answered_index = np.flatnonzero(finite)
        self.latency = s.latency[finite]
        self.service = s.service[finite]
        self.latency_buckets = bucket_index(self.latency)
        self.service_buckets = bucket_index(self.service)

    def part(self, mask: npt.NDArray[np.bool_] | None) -> _Part:
        return _Part(self, mask)


def _groups(index: IntArray) -> list[tuple[int, npt.NDArray[np.bool_] | None]]:
    """(value, mask) per distinct value; mask None when every entry has the one value (the common case)."""
    low, high = int(index.min()), int(index.max())
    if low == high:
        return [(low, None)]
    # Consecutive windows/phases: a range is enough (np.unique's first call costs milliseconds of imports).
    groups = [(v, index == v) for v in range(low, high + 1)]
    return [(v, mask) for v, mask in groups if mask.any()]


def _add_histogram(h: LatencyHistogram, values: FloatArray, buckets: npt.NDArray[np.intp]) -> None:
    """LatencyHistogram.add_values with the buckets already computed (values are finite)."""
    if values.size == 0:
        return
    h.counts += np.bincount(buckets, minlength=NBINS)[:NBINS]
    h.total += float(values.sum())
    h.min = min(h.min, float(values.min()))
    h.max = max(h.max, float(values.max()))


def _add_counts(into: dict[int, int], outcomes: npt.NDArray[np.int8]) -> None:
    counts = np.bincount(outcomes.astype(np.intp), minlength=len(Outcome))
    for value in np.flatnonzero(counts).tolist():
        into[value] = into.get(value, 0) + int(counts[value])
