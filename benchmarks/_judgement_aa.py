"""The A/A table: back-to-back runs of the unchanged service, each judged against memory, then stored.

Every run is compared with the baseline the memory rules pick at that moment (the first pass becomes the
baseline; later passes that match it are pooled with it) and then pushed, so the history grows exactly as
it would in CI. Any ``regressed`` here is a false alarm: nothing about the service changed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from _judgement_runs import EDITION_ID, ENDPOINT, MODULE_ID, Judged, LoadShape, judge, measure
from _judgement_text import clock, ms, ratio, say

from sk_loadagent.analysis import p95_run_noise
from sk_loadagent.memory import MemoryStore, SeriesKey
from sk_loadagent.sample_service import SampleService
from sk_loadagent.suite.baselines import load_history

SERIES = SeriesKey(edition_id=EDITION_ID, module_id=MODULE_ID, test_type="load", endpoint=ENDPOINT)
HEADER = (
    f"{'run':>4} {'p95 ms':>7} {'base p95':>8} {'pool':>4} {'noise':>5} {'delta':>6} {'95% interval':>15} "
    f"{'regressed':>9} {'conf':>5} {'status':>8} {'score':>5} {'stored':>8} {'s':>4}"
)


def row(index: int, j: Judged) -> str:
    regressed = "explor." if j.exploratory else ("YES" if j.regressed else "no")
    return (
        f"{index:>4} {ms(j.p95):>7} {ms(j.baseline_p95):>8} {j.pool_runs:>4} {j.run_noise:>5.1%} "
        f"{j.delta or '-':>6} {j.interval or '-':>15} {regressed:>9} {ratio(j.confidence):>5} "
        f"{j.status:>8} {j.score if j.score is not None else '-':>5} {j.stored_as:>8} {j.seconds:>4.1f}"
    )


@dataclass(frozen=True)
class AASummary:
    judged: list[Judged]
    compared: int
    false_regressed: int
    verdict_regressions: int
    not_pass: int
    reference_p95: float
    spread: float
    product_noise: float | None
    seconds: float


def robust_spread(p95s: list[float]) -> float:
    """The relative run-to-run spread of p95: 1.4826 · MAD of log(p95 / median p95) (a robust σ)."""
    logs = np.log(np.asarray(p95s, dtype=np.float64))
    return float(1.4826 * np.median(np.abs(logs - np.median(logs))))


async def aa_section(service: SampleService, store: MemoryStore, shape: LoadShape, runs: int) -> AASummary:
    say(
        f"\n== A/A: {runs} back-to-back runs of the unchanged service (stable release), each compared with "
        f"the baseline memory picks, then pushed =="
    )
    say(HEADER)
    started = time.monotonic()
    judged = []
    for index in range(1, runs + 1):
        measured = await measure(service, shape, f"aa-{index:02d}")
        j = judge(measured, store, push=True)
        judged.append(j)
        say(row(index, j))
    seconds = time.monotonic() - started
    compared = [j for j in judged if not j.exploratory]
    p95s = [j.p95 for j in judged]
    summary = AASummary(
        judged=judged,
        compared=len(compared),
        false_regressed=sum(j.regressed for j in compared),
        verdict_regressions=sum(j.verdict_regression for j in judged),
        not_pass=sum(j.status != "pass" for j in judged),
        reference_p95=float(np.median(p95s)),
        spread=robust_spread(p95s),
        product_noise=p95_run_noise(load_history(store, SERIES).entries),
        seconds=seconds,
    )
    noise_used = sorted({round(j.run_noise, 4) for j in compared})
    say(
        f"summary: false regressed {summary.false_regressed} of {summary.compared} compared runs "
        f"(verdict regression flags {summary.verdict_regressions}, statuses other than pass "
        f"{summary.not_pass}); p95 median {summary.reference_p95:.2f} ms, min {min(p95s):.2f}, "
        f"max {max(p95s):.2f} (max/min {max(p95s) / min(p95s):.3f}); run-to-run spread of p95 "
        f"1.4826·MAD(log p95) = {summary.spread:.1%}, product's p95_run_noise over the stored history = "
        f"{_pct(summary.product_noise)}; run noise the comparisons used {_pct(min(noise_used, default=None))}"
        f"–{_pct(max(noise_used, default=None))}; wall time {clock(seconds)} ({seconds / runs:.1f} s per run)"
    )
    return summary


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1%}"
