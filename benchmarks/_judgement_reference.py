"""Change points against the reference: generated series (Gaussian noise) judged by the product and by
MongoDB's signal-processing-algorithms (SPA), and what the product's detector costs as series grow.

Each case draws its series from a seed and knows where its true changes are. A true change counts as
found when a reported change point lies within ±2 runs of it (for a ramp: anywhere from 2 runs before
its start to 2 runs after its end); any other reported point is a false one. SPA runs with its own
defaults (α 0.05, 100 permutations, numpy's global generator seeded per series); the product with its
defaults. ``tests/analysis/test_changepoint_reference.py`` asserts on a few seeds what this prints for many.
"""

from __future__ import annotations

import time
import tracemalloc
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from _judgement_text import say

from sk_loadagent.analysis import change_points

FloatArray = npt.NDArray[np.float64]
NOISE = 0.05
WITHIN = 2
# A true change: its index, or (start, end) of a ramp.
Truth = int | tuple[int, int]


@dataclass(frozen=True)
class Case:
    name: str
    describe: str
    draw: Callable[[np.random.Generator], tuple[FloatArray, list[Truth]]]


def _gauss(rng: np.random.Generator, level: FloatArray) -> FloatArray:
    out: FloatArray = level * (1 + rng.normal(0, NOISE, level.size))
    return out


def _levels(n: int, cuts: list[int], factors: list[float]) -> FloatArray:
    level = np.full(n, 100.0)
    for cut, factor in zip(cuts, factors, strict=True):
        level[cut:] *= factor
    return level


def _noise(n: int) -> Callable[[np.random.Generator], tuple[FloatArray, list[Truth]]]:
    return lambda rng: (_gauss(rng, np.full(n, 100.0)), [])


def _step(rng: np.random.Generator) -> tuple[FloatArray, list[Truth]]:
    at = int(rng.integers(5, 26))
    return _gauss(rng, _levels(30, [at], [1.10])), [at]


def _up_down(rng: np.random.Generator) -> tuple[FloatArray, list[Truth]]:
    up = int(rng.integers(20, 45))
    down = int(rng.integers(up + 15, 85))
    return _gauss(rng, _levels(100, [up, down], [1.10, 0.92])), [up, down]


def _mixed(rng: np.random.Generator) -> tuple[FloatArray, list[Truth]]:
    while True:
        cuts = sorted(int(c) for c in rng.choice(np.arange(10, 141), size=4, replace=False))
        if min(np.diff(cuts)) >= 15:
            break
    factors = [1 + float(rng.choice([-1, 1]) * rng.uniform(0.10, 0.15)) for _ in cuts]
    return _gauss(rng, _levels(150, cuts, factors)), list(cuts)


def _rise_fall(rng: np.random.Generator) -> tuple[FloatArray, list[Truth]]:
    rise = int(rng.integers(10, 30))
    fall = rise + int(rng.integers(8, 20))
    return _gauss(rng, _levels(60, [rise, fall], [1.12, 1 / 1.12])), [rise, fall]


def _ramp(rng: np.random.Generator) -> tuple[FloatArray, list[Truth]]:
    start, width = int(rng.integers(15, 40)), 8
    level = np.full(60, 100.0)
    level[start : start + width] = 100 + 12 * np.arange(1, width + 1) / width
    level[start + width :] = 112
    return _gauss(rng, level), [(start, start + width)]


def _heavy_tails(rng: np.random.Generator) -> tuple[FloatArray, list[Truth]]:
    at = int(rng.integers(10, 50))
    return _levels(60, [at], [1.15]) * (1 + 0.03 * rng.standard_t(3, 60)), [at]


def _near(end: bool) -> Callable[[np.random.Generator], tuple[FloatArray, list[Truth]]]:
    def draw(rng: np.random.Generator) -> tuple[FloatArray, list[Truth]]:
        offset = int(rng.integers(3, 6))
        at = 40 - offset if end else offset
        return _gauss(rng, _levels(40, [at], [1.15])), [at]

    return draw


def _error_rate(rng: np.random.Generator) -> tuple[FloatArray, list[Truth]]:
    at = int(rng.integers(10, 30))
    rate = np.where(np.arange(40) < at, 0.0005, 0.004)
    return rng.binomial(3000, rate) / 3000, [at]


def _error_noise(rng: np.random.Generator) -> tuple[FloatArray, list[Truth]]:
    return rng.binomial(3000, 0.0005, 40) / 3000, []


CASES = [
    Case("noise-30", "pure noise, 30 runs", _noise(30)),
    Case("noise-100", "pure noise, 100 runs", _noise(100)),
    Case("step-30", "+10 % step, 30 runs", _step),
    Case("up-down-100", "+10 % then −8 %, 100 runs", _up_down),
    Case("mixed-150", "4 shifts of ±10–15 %, mixed sign, 150 runs", _mixed),
    Case("rise-fall-60", "+12 % for 8–19 runs, then back, 60 runs", _rise_fall),
    Case("ramp-60", "+12 % ramp over 8 runs, 60 runs", _ramp),
    Case("heavy-60", "+15 % step in Student-t(3) noise, 60 runs", _heavy_tails),
    Case("near-start-40", "+15 % step 3–5 runs from the start, 40 runs", _near(end=False)),
    Case("near-end-40", "+15 % step 3–5 runs from the end, 40 runs", _near(end=True)),
    Case("errors-40", "error rate 0.05 % → 0.4 % (3,000 requests, often 0), 40 runs", _error_rate),
    Case("error-noise-40", "error rate 0.05 % throughout, 40 runs", _error_noise),
]


def draw(case: Case, seed: int) -> tuple[FloatArray, list[Truth]]:
    return case.draw(np.random.default_rng([zlib.crc32(case.name.encode()), seed]))


def score(found: list[int], truths: list[Truth]) -> tuple[int, int]:
    """(true changes found within ±2 runs, reported points that match no true change)."""
    unused = sorted(found)
    hits = 0
    for truth in truths:
        low, high = (
            (truth - WITHIN, truth + WITHIN) if isinstance(truth, int) else (truth[0] - 2, truth[1] + 2)
        )
        near = [f for f in unused if low <= f <= high]
        if near:
            hits += 1
            # the points of a ramp beyond the first are its steps, not false alarms
            unused = [f for f in unused if f != near[0] and (isinstance(truth, int) or not low <= f <= high)]
    return hits, len(unused)


def product(series: FloatArray, seed: int) -> list[int]:
    return [p.index for p in change_points(series, seed=seed)]


def reference(series: FloatArray, seed: int) -> list[int]:
    """SPA's E-divisive with its defaults, numpy's global generator seeded as SPA's own tests do."""
    from signal_processing_algorithms.determinism import deterministic_numpy_random
    from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive

    with deterministic_numpy_random(seed):
        return sorted(int(i) for i in e_divisive(series, pvalue=0.05, permutations=100))


@dataclass(frozen=True)
class Tally:
    found: int
    truths: int
    false_points: int
    series_with_false: int

    @property
    def rate(self) -> float:
        return self.found / self.truths if self.truths else 0.0


def tally(case: Case, detector: Callable[[FloatArray, int], list[int]], seeds: range) -> Tally:
    found = truths = false_points = series_with_false = 0
    for seed in seeds:
        series, true_changes = draw(case, seed)
        hits, extra = score(detector(series, seed), true_changes)
        found, truths = found + hits, truths + len(true_changes)
        false_points, series_with_false = false_points + extra, series_with_false + (extra > 0)
    return Tally(found, truths, false_points, series_with_false)


def _cell(t: Tally) -> str:
    share = f"{t.found}/{t.truths} ({t.rate:.0%})" if t.truths else "-"
    return f"{share:>14} {t.false_points:>5} {t.series_with_false:>5}"


ReferenceRow = tuple[Case, Tally, Tally | None]


@dataclass(frozen=True)
class CostRow:
    n: int
    seconds: float
    peak_mb: float


def reference_section(seeds: int) -> list[ReferenceRow]:
    """Print found / false per case for the product and SPA (when installed); return the tallies."""
    try:
        import signal_processing_algorithms  # noqa: F401

        have_reference = True
    except ImportError:
        have_reference = False
    say(
        f"\n== Change points against the reference: generated series, ±{NOISE:.0%} Gaussian noise unless "
        f"said, {seeds} seeds each; found = true changes within ±{WITHIN} runs; false = other points, and "
        "series with any =="
    )
    if not have_reference:
        say("signal-processing-algorithms is not installed (dev extra, Python 3.11): product only")
    counts = f"{'false':>5} {'series':>5}"
    say(f"{'case':<15} {'product found':>14} {counts}   {'SPA found':>14} {counts}")
    rows = []
    for case in CASES:
        ours = tally(case, product, range(seeds))
        theirs = tally(case, reference, range(seeds)) if have_reference else None
        say(f"{case.name:<15} {_cell(ours)}   {_cell(theirs) if theirs else '':>26}   {case.describe}")
        rows.append((case, ours, theirs))
    return rows


def _multi_change_series(n: int, seed: int) -> FloatArray:
    """n runs with a ±10 % shift about every n/8 runs, in ±5 % Gaussian noise."""
    rng = np.random.default_rng([n, seed])
    cuts = sorted(int(c) for c in rng.choice(np.arange(1, n), size=8, replace=False))
    factors = [1 + float(rng.choice([-1, 1])) * 0.10 for _ in cuts]
    return _gauss(rng, _levels(n, cuts, factors))


def cost_section(sizes: tuple[int, ...] = (100, 1_000, 2_000, 10_000)) -> list[CostRow]:
    """Time and peak traced memory (numpy's allocations included) of one ``change_points`` call per size."""
    say("\n== Change-point cost: one series with 8 shifts of ±10 % in ±5 % noise, product defaults ==")
    rows = []
    for n in sizes:
        series = _multi_change_series(n, seed=1)
        tracemalloc.start()
        started = time.perf_counter()
        found = change_points(series)
        seconds = time.perf_counter() - started
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        say(
            f"n = {n:>6,}: {seconds:6.2f} s, peak {peak_mb:6.1f} MB allocated (tracemalloc), "
            f"{len(found)} found"
        )
        rows.append(CostRow(n, seconds, peak_mb))
    return rows
