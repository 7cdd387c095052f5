"""Memory rules (spec cycles 11 and 17) as pure functions over the stored runs of one series.

A series is one module × edition × test type × endpoint × load profile; entries may come in any order
(they are sorted by ``created_at``). A run flagged ``infrastructure_failure`` (an outage, ``outage.py``) is
kept out of every rule here: it is never a baseline nor pooled with one, never counts toward an obsolete
baseline, and never calibrates the run-to-run noise. Nothing here reads or writes a store: the memory
package turns its rows into ``HistoryEntry`` values and acts on the answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from sk_loadagent.models.metrics import BaselineComparison, ChangePointMark

from ._format import signed_pct
from .changepoint import ALPHA, MIN_MAGNITUDE, MIN_SIZE, ChangePoint, change_points
from .regression import DEFAULT_RUN_NOISE
from .verdict import Verdict, regression_since, written_score

PROMOTION_CONFIDENCE = 0.85
OBSOLETE_AFTER = 3
_NOISE_FLOOR, _NOISE_CEILING = 0.01, 0.5
# Change points look at a series' latest runs only: 2,000 runs take about 2 s (README, bench-judgement).
CHANGE_POINT_WINDOW = 2_000


@dataclass(frozen=True)
class HistoryEntry:
    """What memory keeps of one run, as far as these rules need it (p95 in ms)."""

    run_id: str
    trace_id: str | None
    created_at: datetime
    status: str | None
    score: float | None
    p95: float | None
    regressed: bool = False
    is_baseline: bool = False
    baseline_obsolete: bool = False
    validated: bool = True
    infrastructure_failure: bool = False


def _chronological(entries: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    return sorted(entries, key=lambda e: e.created_at)


def _validated_pass(e: HistoryEntry) -> bool:
    return (
        e.status == "pass"
        and e.validated
        and not e.regressed
        and not e.baseline_obsolete
        and not e.infrastructure_failure
    )


def measured_runs(entries: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    """The entries that measured the service, oldest first: infrastructure failures left out."""
    return [e for e in _chronological(entries) if not e.infrastructure_failure]


def select_baseline(entries: Sequence[HistoryEntry]) -> HistoryEntry | None:
    """The current baseline: the latest entry flagged ``is_baseline`` that is not obsolete; else the latest
    validated, non-regressed pass after the obsolete baseline (or, with no flag at all, of the series);
    else the obsolete baseline itself, which is still compared against until a validated pass replaces
    it; None when the series never had a baseline (the next run is exploratory)."""
    ordered = _chronological(entries)
    flagged = [e for e in ordered if e.is_baseline]
    live = [e for e in flagged if not e.baseline_obsolete]
    if live:
        return live[-1]
    since = [e for e in ordered if e.created_at > flagged[-1].created_at] if flagged else ordered
    passes = [e for e in since if _validated_pass(e)]
    if passes:
        return passes[-1]
    return flagged[-1] if flagged else None


def baseline_pool(entries: Sequence[HistoryEntry], size: int = 5) -> list[HistoryEntry]:
    """The baseline and the validated passes after it that did not regress against it, up to ``size``
    runs (oldest first). They are indistinguishable from the baseline by test, so pooling their
    histograms (``regression.pool_inputs``) cuts the baseline's run-to-run noise by √k without moving it.
    """
    baseline = select_baseline(entries)
    if baseline is None:
        return []
    ordered = _chronological(entries)
    after = [e for e in ordered if e.created_at > baseline.created_at and _validated_pass(e)]
    return [baseline, *after[-(size - 1) :]] if size > 1 else [baseline]


def should_promote(
    verdict: Verdict,
    comparison: BaselineComparison | None,
    score: float,
    baseline: HistoryEntry | None,
    *,
    infrastructure_failure: bool = False,
) -> bool:
    """Whether this run becomes the new baseline.

    Only a pass that is not a regression can. The first pass of a series does, and so does the first pass
    after the baseline went obsolete (it passed against the obsolete baseline, so it replaces it). Later, a
    passing run does when its written score is strictly above the baseline's AND the comparison gives
    P(p95 lower than the baseline's) > 0.85. Requiring both keeps noise from promoting merely lucky runs:
    a baseline chosen for being fast makes every later comparison look slower (the winner's curse) and
    raises false alarms. An infrastructure failure never becomes a baseline (the caller passes
    ``infrastructure_failure``).
    """
    if verdict.status != "pass" or verdict.regression or infrastructure_failure:
        return False
    if baseline is None or baseline.baseline_obsolete:
        return True
    if comparison is None or comparison.exploratory or comparison.regressed:
        return False
    confident = (comparison.improvement_confidence or 0.0) > PROMOTION_CONFIDENCE
    better = baseline.score is None or written_score(score) > written_score(baseline.score)
    return confident and better


def obsolete_after_regressions(entries: Sequence[HistoryEntry], n: int = OBSOLETE_AFTER) -> bool:
    """True when the latest ``n`` runs that measured the service all regressed: the baseline no longer
    describes it. Infrastructure failures neither count nor break the streak."""
    ordered = measured_runs(entries)
    return n > 0 and len(ordered) >= n and all(e.regressed for e in ordered[-n:])


def obsolete_suggestion(n: int = OBSOLETE_AFTER) -> str:
    return (
        f"baseline obsolete after {n} consecutive regressions: "
        "re-baseline or revise the p95 threshold / the test"
    )


def score_regression(prev: HistoryEntry | None, current: HistoryEntry) -> str | None:
    """Why ``current`` is a regression against the previous run (spec cycle 11), or None: the written
    score fell by more than 0.15, or the status went from pass to degraded or fail."""
    if prev is None:
        return None
    return regression_since(prev.run_id, prev.score, prev.status, current.score, current.status)


def edition_deviation(p95_by_edition: Mapping[str, float], base_edition: str | None = None) -> dict[str, str]:
    """Each other edition's p95 relative to the base edition's, spelled ``"+18%"`` (spec cycle 7).

    Without ``base_edition`` the base is the edition whose id prefixes most others (``vetclinic`` for
    ``vetclinic-premium``), the shortest id on a tie.
    """
    if not p95_by_edition:
        return {}
    base = base_edition or min(
        p95_by_edition,
        key=lambda e: (-sum(1 for other in p95_by_edition if other != e and other.startswith(e)), len(e), e),
    )
    reference = p95_by_edition.get(base)
    if reference is None or reference <= 0:
        return {}
    return {
        edition: signed_pct(p95 / reference - 1.0)
        for edition, p95 in p95_by_edition.items()
        if edition != base and p95 is not None and p95 > 0
    }


@dataclass(frozen=True)
class SeriesChangePoint:
    """A change point of a series' p95s with the runs on either side of it.

    ``index`` is the position of ``first_after`` among the series' runs that have a p95, oldest first.
    """

    index: int
    point: ChangePoint
    last_before: HistoryEntry
    first_after: HistoryEntry

    def mark(self) -> ChangePointMark:
        """The wire form (``changePointDetails``, ``history --json``)."""
        cp = self.point
        return ChangePointMark(
            index=self.index,
            run_id_before=self.last_before.run_id or None,
            trace_id_before=self.last_before.trace_id,
            run_id_after=self.first_after.run_id or None,
            trace_id_after=self.first_after.trace_id,
            p95_before=round(cp.before_mean, 3),
            p95_after=round(cp.after_mean, 3),
            rel_change=None if cp.rel_change is None else cp.change_text,
            magnitude=round(cp.magnitude, 4),
            p_value=round(cp.p_value, 4),
        )


@dataclass(frozen=True)
class SeriesChangePoints:
    """The change points found in the latest ``analysed`` of a series' ``with_p95`` runs that have a p95."""

    points: list[SeriesChangePoint]
    analysed: int
    with_p95: int

    @property
    def windowed(self) -> bool:
        """True when older runs were left out to bound the cost (see ``CHANGE_POINT_WINDOW``)."""
        return self.analysed < self.with_p95


def series_change_points(
    entries: Sequence[HistoryEntry],
    *,
    window: int | None = None,
    alpha: float = ALPHA,
    min_size: int = MIN_SIZE,
    min_magnitude: float = MIN_MAGNITUDE,
    seed: int = 0,
) -> SeriesChangePoints:
    """Change points of the p95 series (runs without a p95 are skipped) over its latest ``window`` runs,
    each with the last run before and the first run of the new regime (``window`` None:
    ``CHANGE_POINT_WINDOW``)."""
    runs = [e for e in _chronological(entries) if e.p95 is not None and e.p95 > 0]
    recent = runs[-(window or CHANGE_POINT_WINDOW) :]
    skipped = len(runs) - len(recent)
    if len(recent) < 2 * min_size:
        return SeriesChangePoints([], len(recent), len(runs))
    series = [float(e.p95) for e in recent if e.p95 is not None]
    found = change_points(series, alpha=alpha, min_size=min_size, min_magnitude=min_magnitude, seed=seed)
    points = [
        SeriesChangePoint(skipped + cp.index, cp, recent[cp.index - 1], recent[cp.index]) for cp in found
    ]
    return SeriesChangePoints(points, len(recent), len(runs))


def change_point_note(found: SeriesChangePoint) -> str:
    """One line for a comparison's notes, naming the first run of the new regime."""
    cp, run = found.point, found.first_after
    return (
        f"change point at run {run.trace_id or run.run_id}: p95 {cp.before_mean:.2f} -> "
        f"{cp.after_mean:.2f} ms ({cp.change_text}, p={cp.p_value:.3f})"
    )


def p95_run_noise(entries: Sequence[HistoryEntry], *, min_runs: int = 8, last: int = 20) -> float | None:
    """The relative run-to-run spread of p95 in the latest ``last`` validated, non-regressed runs (an A/A
    calibration from history), or None with fewer than ``min_runs``.

    Successive log differences with a MAD scale (÷√2 for the difference of two runs) ignore a single
    level shift, which would otherwise read as noise.
    """
    runs = [e for e in measured_runs(entries) if e.validated and not e.regressed and e.p95 and e.p95 > 0]
    p95s = np.log([float(e.p95) for e in runs[-last:] if e.p95])
    if p95s.size < max(3, min_runs):
        return None
    diffs = np.diff(p95s)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    estimate = 1.4826 * mad / math.sqrt(2)
    return min(_NOISE_CEILING, max(_NOISE_FLOOR, estimate))


def run_noise_for(entries: Sequence[HistoryEntry]) -> float:
    """The run-to-run noise to compare with: the history's estimate, never below the default. A quiet
    history only gets a little more power from a smaller value, while an underestimate from few runs
    would raise false alarms, so only larger estimates are trusted."""
    return max(DEFAULT_RUN_NOISE, p95_run_noise(entries) or 0.0)
