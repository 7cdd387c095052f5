"""``make bench-judgement``: how often the product's regression judgement is right, measured its own way.

Three tables, then a ``targets`` block (MET / NOT MET with the numbers):

1. A/A: back-to-back runs of the unchanged sample service, each compared with the baseline memory picks
   at that point, then pushed. Target: at most 1 false ``regressed``.
2. A/B: runs whose measured p95 is 25–40 % slower (calibrated), compared with that memory, not pushed.
   Targets: at least 95 % flagged (38 of 40), minimum confidence among the flagged at least 0.9.
3. Change points: synthetic 30-run p95 series (±5 % noise, a 10 % step at a varying build) stored in
   memory and read by ``series_change_points``. Targets: the step found within 2 builds in every seed;
   no change point in any pure-noise series.
4. Change points against the reference (``_judgement_reference``): generated series with Gaussian noise,
   judged by the product and by signal-processing-algorithms (SPA). Target: on every case the product
   finds at least as many true changes as SPA with no more false points.
5. Change-point cost at n = 100 / 1,000 / 2,000 / 10,000 runs. Target: 2,000 runs in ≤ 5 s and ≤ 200 MB.

Every run uses the real engine against the real sample service on 127.0.0.1 and the product's own
collect / compare / score / evaluate / push functions with a SQLite memory store in a temporary folder
(``_judgement_runs``). The script always exits 0: a missed target is reported, not raised.

    cd /work/main && PYTHONPATH=. python benchmarks/judgement_bench.py [--aa-runs 40 --ab-runs 40 ...]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _judgement_aa import AASummary, aa_section
from _judgement_ab import CONFIDENCE_TARGET, ABSummary, ab_section, calibrate
from _judgement_changepoints import ChangePointSummary, change_point_section
from _judgement_reference import CostRow, ReferenceRow, cost_section, reference_section
from _judgement_runs import LoadShape
from _judgement_text import clock, say

from sk_loadagent.memory import open_store
from sk_loadagent.sample_service import SampleService

FALSE_ALARMS_ALLOWED = 1
FLAGGED_SHARE = 0.95
TIME_BUDGET_S = 660.0
COST_AT, COST_SECONDS, COST_MB = 2_000, 5.0, 200.0


@dataclass(frozen=True)
class Settings:
    aa_runs: int
    ab_runs: int
    rps: float
    duration_s: float
    latency_ms: float
    slow_low: float
    slow_high: float
    calibration_runs: int
    seeds: int
    seed: int
    reference_seeds: int
    cost_sizes: tuple[int, ...]

    @property
    def shape(self) -> LoadShape:
        return LoadShape(self.rps, self.duration_s)


def parse_settings(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--aa-runs", type=int, default=40, help="A/A runs (default 40)")
    p.add_argument("--ab-runs", type=int, default=40, help="A/B runs (default 40)")
    p.add_argument("--rps", type=float, default=200.0, help="requests per second of each run (default 200)")
    p.add_argument("--duration", type=float, default=3.0, help="seconds of load per run (default 3)")
    p.add_argument("--latency-ms", type=float, default=20.0, help="the service's latencyMs for A (20)")
    p.add_argument("--slow-low", type=float, default=1.25, help="lowest B slowdown of p95 (1.25)")
    p.add_argument("--slow-high", type=float, default=1.40, help="highest B slowdown of p95 (1.40)")
    p.add_argument("--calibration-runs", type=int, default=3, help="runs per calibration level (3)")
    p.add_argument("--seeds", type=int, default=60, help="change-point seeds (default 60, at least 50)")
    p.add_argument("--seed", type=int, default=20250601, help="seed of the B slowdowns and the service")
    p.add_argument("--reference-seeds", type=int, default=100, help="seeds per reference case (100)")
    p.add_argument(
        "--cost-sizes",
        default="100,1000,2000,10000",
        help="series lengths the cost is measured at (100,1000,2000,10000)",
    )
    a = p.parse_args(argv)
    if a.aa_runs < 2 or a.ab_runs < 1 or a.seeds < 1 or a.calibration_runs < 1 or a.reference_seeds < 1:
        p.error(
            "needs --aa-runs ≥ 2, --ab-runs ≥ 1, --seeds ≥ 1, --reference-seeds ≥ 1 "
            "and --calibration-runs ≥ 1"
        )
    try:
        cost_sizes = tuple(int(n) for n in a.cost_sizes.split(","))
    except ValueError:
        p.error(f"--cost-sizes: expected comma-separated whole numbers, got {a.cost_sizes!r}")
    if not 1.0 < a.slow_low <= a.slow_high:
        p.error("needs 1 < --slow-low ≤ --slow-high")
    return Settings(
        a.aa_runs, a.ab_runs, a.rps, a.duration, a.latency_ms, a.slow_low, a.slow_high,
        a.calibration_runs, a.seeds, a.seed, a.reference_seeds, cost_sizes,
    )  # fmt: skip


@dataclass(frozen=True)
class Results:
    aa: AASummary
    ab: ABSummary
    cp: ChangePointSummary
    reference: list[ReferenceRow]
    cost: list[CostRow]
    seconds: float


async def service_sections(s: Settings, folder: Path) -> tuple[AASummary, ABSummary]:
    """A/A, calibration and A/B against one sample service process and one memory store."""
    async with SampleService(release="stable", latency_ms=s.latency_ms, seed=s.seed) as service:
        say(
            f"sample service (stable release, latencyMs {s.latency_ms:g}) at {service.url}, pid {service.pid}"
        )
        with open_store(folder / "memory.sqlite") as store:
            say(f"memory store: {store.url}")
            aa = await aa_section(service, store, s.shape, s.aa_runs)
            cal = await calibrate(
                service,
                s.shape,
                base_latency_ms=s.latency_ms,
                reference_p95=aa.reference_p95,
                knob_factors=(1.0, 1.25, 1.45),
                runs_each=s.calibration_runs,
            )
            ab = await ab_section(
                service,
                store,
                s.shape,
                cal,
                base_latency_ms=s.latency_ms,
                runs=s.ab_runs,
                low=s.slow_low,
                high=s.slow_high,
                seed=s.seed,
            )
    return aa, ab


def _mark(met: bool) -> str:
    return "MET" if met else "NOT MET"


def targets_block(s: Settings, r: Results) -> list[str]:
    """One line per target: what it is, what was measured, MET / NOT MET."""
    need_flagged = math.ceil(FLAGGED_SHARE * s.ab_runs)
    conf = r.ab.min_confidence
    return [
        "targets",
        f"  A/A false regressed ≤ {FALSE_ALARMS_ALLOWED}: {r.aa.false_regressed} of {r.aa.compared} compared "
        f"runs → {_mark(r.aa.false_regressed <= FALSE_ALARMS_ALLOWED)}",
        f"  A/B flagged ≥ {need_flagged} of {s.ab_runs}: {r.ab.flagged} "
        f"→ {_mark(r.ab.flagged >= need_flagged)}",
        f"  A/B minimum confidence among flagged ≥ {CONFIDENCE_TARGET:g}: "
        + ("none flagged" if conf is None else f"{conf:.3f}")
        + f" → {_mark(conf is not None and conf >= CONFIDENCE_TARGET)}",
        f"  change points, 10 % step found within ±2 builds in every seed: {r.cp.hits}/{r.cp.seeds} "
        f"({r.cp.hits / r.cp.seeds:.1%}) → {_mark(r.cp.hits == r.cp.seeds)}",
        f"  change points, pure noise reports none in every seed: {r.cp.noise_alarms}/{r.cp.seeds} seeds "
        f"reported one ({r.cp.noise_alarms / r.cp.seeds:.1%}) → {_mark(r.cp.noise_alarms == 0)}",
        *_reference_targets(r.reference),
        *_cost_targets(r.cost),
        f"  total time about {clock(TIME_BUDGET_S)} or less: {clock(r.seconds)} → "
        f"{_mark(r.seconds <= TIME_BUDGET_S)}",
    ]


def _reference_targets(rows: list[ReferenceRow]) -> list[str]:
    compared = [(case, ours, spa) for case, ours, spa in rows if spa is not None]
    if not compared:
        return ["  change points against SPA: signal-processing-algorithms not installed → NOT MET"]
    behind = [case.name for case, ours, spa in compared if ours.found < spa.found]
    noisier = [case.name for case, ours, spa in compared if ours.false_points > spa.false_points]
    return [
        f"  change points, found ≥ SPA's on every case: behind on {', '.join(behind) or 'none'} "
        f"→ {_mark(not behind)}",
        f"  change points, false points ≤ SPA's on every case: more on {', '.join(noisier) or 'none'} "
        f"→ {_mark(not noisier)}",
    ]


def _cost_targets(rows: list[CostRow]) -> list[str]:
    at = next((row for row in rows if row.n == COST_AT), None)
    if at is None:
        return []
    met = at.seconds <= COST_SECONDS and at.peak_mb <= COST_MB
    return [
        f"  change points at {COST_AT:,} runs in ≤ {COST_SECONDS:g} s and ≤ {COST_MB:g} MB: "
        f"{at.seconds:.2f} s, {at.peak_mb:.1f} MB → {_mark(met)}"
    ]


async def run(s: Settings) -> Results:
    started = time.monotonic()
    load = os.getloadavg()
    say(
        f"judgement benchmark: {s.aa_runs} A/A + {s.ab_runs} A/B runs of one load test, {s.rps:g} rps for "
        f"{s.duration_s:g} s (rampUp 0s, workers=1), default thresholds and tolerances (p95 +25 %); "
        f"{s.seeds} change-point seeds"
    )
    say(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="judgement-bench-") as tmp:
        aa, ab = await service_sections(s, Path(tmp))
    cp = change_point_section(s.seeds)
    reference = reference_section(s.reference_seeds)
    cost = cost_section(s.cost_sizes)
    return Results(aa, ab, cp, reference, cost, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    results = asyncio.run(run(settings))
    load = os.getloadavg()
    say(f"\ntotal time {clock(results.seconds)} ({results.seconds:.0f} s); load average at the end "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")  # fmt: skip
    for line in targets_block(settings, results):
        say(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
