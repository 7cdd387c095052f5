"""Change points of the judgement benchmark: synthetic p95 series stored in memory, found by the product.

Each series is 30 builds of a p95 around 100 ms with ±5 % uniform noise; the step series are 10 % slower
from their step build on. A series is pushed as RunRecords into a fresh SQLite store and read back the way
``suite.judge.compare_test`` reads it (``load_history`` → ``series_change_points`` with its defaults), so
the rates below are the product's own, store round-trip included.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from _judgement_text import say

from sk_loadagent.analysis import series_change_points
from sk_loadagent.analysis.changepoint import ALPHA, MIN_MAGNITUDE, MIN_SIZE, PERMUTATIONS, REACH
from sk_loadagent.memory import RunRecord, SeriesKey, open_store
from sk_loadagent.suite.baselines import load_history

BUILDS = 30
NOISE = 0.05
STEP = 0.10
BASE_P95_MS = 100.0
WITHIN_BUILDS = 2
# Step builds cycle through 5..25: at least five builds on each side of the step.
FIRST_STEP_BUILD, LAST_STEP_BUILD = 5, 25
_KEY = SeriesKey(edition_id="bench", module_id="ChangePointBench", test_type="load", endpoint="/p95")
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def step_build(seed: int) -> int:
    """The build at which the step series of ``seed`` becomes slower (the first build of the new regime)."""
    return FIRST_STEP_BUILD + seed % (LAST_STEP_BUILD - FIRST_STEP_BUILD + 1)


def synthetic_series(seed: int, step_at: int | None) -> list[float]:
    """p95 per build: ±5 % uniform noise, times 1.10 from ``step_at`` on (None: pure noise)."""
    rng = np.random.default_rng([seed, 0 if step_at is None else 1])
    noise = 1.0 + rng.uniform(-NOISE, NOISE, BUILDS)
    level = np.ones(BUILDS)
    if step_at is not None:
        level[step_at:] = 1.0 + STEP
    return [float(v) for v in BASE_P95_MS * level * noise]


def found_indices(series: list[float], folder: Path) -> list[int]:
    """Push the series into a fresh memory store as RunRecords; the change points the product reports."""
    with open_store(folder / "memory.sqlite") as store:
        for build, p95 in enumerate(series):
            store.push(
                RunRecord(
                    created_at=_EPOCH + timedelta(hours=build),
                    edition_id=_KEY.edition_id,
                    module_id=_KEY.module_id,
                    test_type=_KEY.test_type,
                    endpoint=_KEY.endpoint,
                    trace_id=f"build-{build:02d}",
                    status="pass",
                    performance_score=1.0,
                    p95_latency_ms=p95,
                )
            )
        entries = load_history(store, _KEY).entries
    return [p.index for p in series_change_points(entries).points]


@dataclass(frozen=True)
class SeedOutcome:
    seed: int
    step_at: int
    step_found: list[int]
    noise_found: list[int]

    @property
    def hit(self) -> bool:
        return any(abs(i - self.step_at) <= WITHIN_BUILDS for i in self.step_found)

    @property
    def extra(self) -> int:
        """Change points in the step series that are not the step."""
        return sum(1 for i in self.step_found if abs(i - self.step_at) > WITHIN_BUILDS)


@dataclass(frozen=True)
class ChangePointSummary:
    seeds: int
    hits: int
    noise_alarms: int
    extra_points: int
    offsets: Counter[int]
    seconds: float


def run_seed(seed: int, root: Path) -> SeedOutcome:
    at = step_build(seed)
    step_dir, noise_dir = root / f"step-{seed}", root / f"noise-{seed}"
    step_dir.mkdir()
    noise_dir.mkdir()
    return SeedOutcome(
        seed=seed,
        step_at=at,
        step_found=found_indices(synthetic_series(seed, at), step_dir),
        noise_found=found_indices(synthetic_series(seed, None), noise_dir),
    )


def _row(outcome: SeedOutcome) -> str:
    step = ",".join(str(i) for i in outcome.step_found) or "-"
    noise = ",".join(str(i) for i in outcome.noise_found) or "-"
    mark = "found" if outcome.hit else "MISSED"
    return f"{outcome.seed:>4}  {outcome.step_at:>9}  {step:>11}  {mark:>6}  {noise:>12}"


def change_point_section(seeds: int) -> ChangePointSummary:
    """Run ``seeds`` step series and as many pure-noise series; print a row per seed and the rates."""
    say(
        f"\n== Change points: {BUILDS} stored runs, p95 {BASE_P95_MS:g} ms ±{NOISE:.0%} uniform noise, "
        f"{STEP:.0%} step at build {FIRST_STEP_BUILD}..{LAST_STEP_BUILD} (varies by seed); "
        f"product defaults (alpha {ALPHA:g}, {PERMUTATIONS} permutations, minSize {MIN_SIZE}, reach {REACH}, "
        f"minMagnitude {MIN_MAGNITUDE:.0%} after the search) =="
    )
    say(f"{'seed':>4}  {'stepBuild':>9}  {'stepFound':>11}  {'within':>6}  {'noiseFound':>12}")
    started = time.monotonic()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="judgement-cp-") as tmp:
        for seed in range(seeds):
            outcome = run_seed(seed, Path(tmp))
            outcomes.append(outcome)
            say(_row(outcome))
    offsets: Counter[int] = Counter()
    for o in outcomes:
        near = [i - o.step_at for i in o.step_found if abs(i - o.step_at) <= WITHIN_BUILDS]
        offsets[min(near, key=abs) if near else 99] += 1
    summary = ChangePointSummary(
        seeds=seeds,
        hits=sum(o.hit for o in outcomes),
        noise_alarms=sum(1 for o in outcomes if o.noise_found),
        extra_points=sum(o.extra for o in outcomes),
        offsets=offsets,
        seconds=time.monotonic() - started,
    )
    spread = ", ".join(
        f"{'missed' if k == 99 else f'{k:+d}'}: {n}" for k, n in sorted(offsets.items(), key=lambda kv: kv[0])
    )
    say(
        f"summary: step found within ±{WITHIN_BUILDS} builds in {summary.hits}/{seeds} seeds "
        f"({summary.hits / seeds:.1%}; found index − step build: {spread}); "
        f"other change points in step series: {summary.extra_points}; "
        f"pure noise: {summary.noise_alarms}/{seeds} seeds report a change point "
        f"({summary.noise_alarms / seeds:.1%}); {summary.seconds:.1f} s"
    )
    return summary
