"""The A/B table: runs of a service whose measured p95 is 25–40 % slower, judged against the A/A memory.

The slowdown is made on the *measured* p95, not on a knob: the sample service's ``latencyMs`` is its
median service time, but a measured latency also holds fixed costs (timer slack, the network stack, the
engine), so p95 does not scale with the knob. A calibration measures p95 at a few ``latencyMs`` values,
fits p95 ≈ a + b·latencyMs by least squares, and each B run sets ``latencyMs = (factor·p95_A − a) / b``
with p95_A the median p95 of the A runs. Each row shows the intended and the measured factor.

B runs are compared but never pushed: three stored regressions in a row would retire the baseline (spec
cycle 17), and every later B run would then be exploratory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from _judgement_runs import Judged, LoadShape, judge, measure
from _judgement_text import clock, ms, ratio, say

from sk_loadagent.memory import MemoryStore
from sk_loadagent.sample_service import SampleService

CONFIDENCE_TARGET = 0.9


@dataclass(frozen=True)
class Calibration:
    """Measured p95 (ms) as a straight line in ``latencyMs``, and the A runs' p95 it is aimed from."""

    reference_p95: float
    intercept: float
    slope: float

    def latency_for(self, factor: float) -> float:
        """The ``latencyMs`` whose measured p95 is ``factor`` × the A runs' median p95."""
        return (factor * self.reference_p95 - self.intercept) / self.slope

    def predicted(self, latency_ms: float) -> float:
        return self.intercept + self.slope * latency_ms


async def calibrate(
    service: SampleService,
    shape: LoadShape,
    *,
    base_latency_ms: float,
    reference_p95: float,
    knob_factors: tuple[float, ...],
    runs_each: int,
) -> Calibration:
    say(
        f"\n== Calibration: measured p95 vs the service's latencyMs ({runs_each} runs per level; "
        f"reference = A/A median p95 {reference_p95:.2f} ms at latencyMs {base_latency_ms:g}) =="
    )
    points: list[tuple[float, float]] = []
    levels: list[tuple[float, list[float]]] = []
    for knob in knob_factors:
        latency = base_latency_ms * knob
        await service.configure_async(latency_ms=latency)
        p95s = []
        for i in range(runs_each):
            p95s.append((await measure(service, shape, f"cal-{latency:g}-{i}")).p95)
        points += [(latency, p) for p in p95s]
        levels.append((latency, p95s))
    await service.configure_async(latency_ms=base_latency_ms)
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    slope, intercept = (float(v) for v in np.polyfit(xs, ys, 1))
    cal = Calibration(reference_p95, intercept, slope)
    say(f"{'latencyMs':>9} {'knob x':>6} {'p95 ms of each run':>28} {'median':>7} {'vs A':>6} {'fit':>7}")
    for latency, p95s in levels:
        each = " ".join(f"{p:.2f}" for p in p95s)
        median = float(np.median(p95s))
        say(
            f"{latency:>9.2f} {latency / base_latency_ms:>6.3f} {each:>28} {median:>7.2f} "
            f"{median / reference_p95:>6.3f} {cal.predicted(latency):>7.2f}"
        )
    say(
        f"fit: p95 ≈ {intercept:.2f} ms + {slope:.3f} × latencyMs; a knob ×1.25 / ×1.40 alone would give a "
        f"measured ×{cal.predicted(base_latency_ms * 1.25) / reference_p95:.3f} / "
        f"×{cal.predicted(base_latency_ms * 1.40) / reference_p95:.3f}, so the knob is set from the fit"
    )
    return cal


HEADER = (
    f"{'run':>4} {'intended':>8} {'latMs':>6} {'p95 ms':>7} {'measured':>8} {'base p95':>8} {'delta':>6} "
    f"{'95% interval':>15} {'regressed':>9} {'conf':>5} {'status':>8} {'score':>5} {'s':>4}"
)


@dataclass(frozen=True)
class BRun:
    intended: float
    latency_ms: float
    measured: float
    judged: Judged


def row(index: int, b: BRun) -> str:
    j = b.judged
    regressed = "explor." if j.exploratory else ("YES" if j.regressed else "no")
    return (
        f"{index:>4} {b.intended:>8.3f} {b.latency_ms:>6.2f} {ms(j.p95):>7} {b.measured:>8.3f} "
        f"{ms(j.baseline_p95):>8} {j.delta or '-':>6} {j.interval or '-':>15} {regressed:>9} "
        f"{ratio(j.confidence):>5} {j.status:>8} {j.score if j.score is not None else '-':>5} "
        f"{j.seconds:>4.1f}"
    )


@dataclass(frozen=True)
class ABSummary:
    runs: list[BRun]
    flagged: int
    min_confidence: float | None
    seconds: float


async def ab_section(
    service: SampleService,
    store: MemoryStore,
    shape: LoadShape,
    cal: Calibration,
    *,
    base_latency_ms: float,
    runs: int,
    low: float,
    high: float,
    seed: int,
) -> ABSummary:
    say(
        f"\n== A/B: {runs} runs with p95 slower by a factor drawn uniformly in [{low:g}, {high:g}] "
        f"(seed {seed}), each compared with the A/A memory, not pushed =="
    )
    say(HEADER)
    factors = np.random.default_rng(seed).uniform(low, high, runs)
    started = time.monotonic()
    out = []
    try:
        for index, factor in enumerate(factors, start=1):
            latency = cal.latency_for(float(factor))
            await service.configure_async(latency_ms=latency)
            measured = await measure(service, shape, f"ab-{index:02d}")
            j = judge(measured, store, push=False)
            b = BRun(float(factor), latency, j.p95 / cal.reference_p95, j)
            out.append(b)
            say(row(index, b))
    finally:
        await service.configure_async(latency_ms=base_latency_ms)
    seconds = time.monotonic() - started
    flagged = [b for b in out if b.judged.regressed]
    confidences = [b.judged.confidence for b in flagged if b.judged.confidence is not None]
    summary = ABSummary(out, len(flagged), min(confidences) if confidences else None, seconds)
    errors = [b.measured / b.intended - 1.0 for b in out]
    missed = [
        f"ab-{i:02d} (measured ×{b.measured:.3f}, delta {b.judged.delta} {b.judged.interval})"
        for i, b in enumerate(out, start=1)
        if not b.judged.regressed
    ]
    say(
        f"summary: flagged {summary.flagged} of {runs}; minimum confidence among flagged "
        f"{_num(summary.min_confidence)}; measured factor {min(b.measured for b in out):.3f}–"
        f"{max(b.measured for b in out):.3f} (measured/intended − 1: median {float(np.median(errors)):+.1%}, "
        f"RMS {math.sqrt(float(np.mean(np.square(errors)))):.1%}); runs measured below ×{low:g}: "
        f"{sum(b.measured < low for b in out)}; wall time {clock(seconds)}"
    )
    if missed:
        say("not flagged: " + "; ".join(missed))
    return summary


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
