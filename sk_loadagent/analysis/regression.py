"""Is this run a regression against its baseline? Distributions compared, not two numbers.

Latency (p95, and p99 reported alongside)
    The quantile is compared as a ratio, current / baseline, on the log scale. Its uncertainty has two
    parts, and the interval covers both:

    1. Sampling noise inside each run: a bootstrap. Each latency histogram is resampled as a multinomial
       over its buckets (histograms are what memory stores; raw samples become a histogram within 1 %).
       The quantile of a resample has an exact distribution (the resample's quantile is at or below
       bucket k when Binomial(n, F_k) >= rank), so B = 2000 replicate quantiles are drawn from it
       directly: the same bootstrap as drawing B multinomials, without their cost or Monte-Carlo error.
       The spread of log(q*_current / q*_baseline) around its histogram estimate is kept.
    2. Noise between runs of an unchanged service (machine load, CPU frequency, GC timing), which no
       resampling of one run can see. Every replicate is also multiplied by a random run-to-run factor
       exp(N(0, s)) with s = run_noise·√(1/runs_current + 1/runs_baseline); ``run_noise`` is the relative
       spread of p95 between runs (5 % by default; ``history.p95_run_noise`` calibrates it from stored
       runs, A/A style). A baseline pooled from k runs (``pool_inputs``) has 1/√k of that noise.

    The replicates, centred on the exact point change (from the runs' own p95s), give the 95 % interval
    (2.5th–97.5th percentile) reported as ``"+20%"``/``"+41%"``. ``regressed`` holds when all three hold:

    - the increase is significant: the interval's lower bound is above 0 (one-sided α = 2.5 %);
    - the move may reach the tolerance: at least 10 % of the replicates lie at or past it (the one-sided
      90 % upper bound reaches it). "Moved past the tolerance" is read at the
      measurement's own resolution: a true +25 % move whose estimate lands at +22 % still counts, while
      a +15 % move, measured tightly, is a change within tolerance and does not flag;
    - the point change is at least half the tolerance, so a tiny but significant move never flags.

    ``confidence`` is the share of replicates agreeing with the verdict: P(delta > 0) when regressed,
    P(delta < tolerance) when not. ``improvementConfidence`` is P(delta < 0), for baseline promotion.
    A Mann–Whitney U test on the two histograms (normal approximation with bucket ties) is reported in
    ``notes`` as a secondary check of "the whole distribution moved", never as the decision.

Throughput
    Relative change of mean per-window rps; Welch's t-test and interval. Regressed when the decrease is
    significant, may reach the rps tolerance (P ≥ 10 %) and the point decrease
    is at least half of it.

Error rate
    Absolute change; two-proportion z-test (pooled) for significance, Wald interval for the difference.
    Regressed when significant (one-sided 2.5 %), may reach the tolerance
    (P ≥ 10 %) and the point change is at least half of it.

The top-level ``regressed`` is p95 OR rps OR error rate. p99 is reported with its own flag but does not
decide: tails move more between runs, and each extra deciding metric adds false alarms.
Everything is seeded from the inputs themselves, so the same two runs always give the same answer.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import stats

from sk_loadagent.histogram import LatencyHistogram, bucket_value
from sk_loadagent.models.metrics import AnyStatus, BaselineComparison, Interval, MetricDelta, PerfMetrics
from sk_loadagent.models.thresholds import RegressionTolerance

from ._format import p_value, signed_pct, signed_pp
from .thresholds import Tolerance

FloatArray = npt.NDArray[np.float64]

DEFAULT_RUN_NOISE = 0.05
REPLICATES = 2000
LEVEL = 0.95
_TAIL = (1.0 - LEVEL) / 2
# The share of the estimate's distribution that must lie at or past the tolerance (one-sided 90 % bound).
REACH = 0.10


@dataclass(frozen=True)
class ComparisonInput:
    """One side of a comparison: a run (or several pooled runs) as memory keeps it.

    ``p95``/``p99`` are in ms (the run's exact figures); ``histogram`` holds the latencies in seconds;
    ``rps_windows`` the responses per second of each measured window; ``runs`` how many runs were pooled.
    """

    histogram: LatencyHistogram | None
    requests: int
    errors: int
    p95: float | None
    p99: float | None
    rps: float | None
    error_rate: float | None
    rps_windows: FloatArray = field(default_factory=lambda: np.empty(0, np.float64))
    score: float | None = None
    status: str | None = None
    trace_id: str | None = None
    run_id: str | None = None
    runs: int = 1


def comparison_input(
    metrics: PerfMetrics, histogram: LatencyHistogram | None = None, *, run_id: str | None = None
) -> ComparisonInput:
    """A ComparisonInput from perf-metrics.json: the histogram from ``latencyHistogram`` unless given, the
    per-window rps of the measured phases from ``timeline``."""
    if histogram is None and metrics.latency_histogram is not None:
        try:
            histogram = LatencyHistogram.from_sparse(metrics.latency_histogram)
        except (ValueError, TypeError):
            histogram = None
    requests = metrics.requests or 0
    if metrics.errors is not None:
        errors = sum(metrics.errors.values())
    else:
        errors = round((metrics.error_rate or 0.0) * requests)
    measured = {p.name for p in metrics.phases or [] if p.measured}
    windows = [p.rps for p in metrics.timeline or [] if not measured or p.phase in measured]
    latency = metrics.latency
    return ComparisonInput(
        histogram=histogram,
        requests=requests,
        errors=errors,
        p95=latency.p95 if latency else None,
        p99=latency.p99 if latency else None,
        rps=metrics.rps,
        error_rate=metrics.error_rate,
        rps_windows=np.asarray(windows, dtype=np.float64),
        score=metrics.performance_score,
        status=metrics.status,
        trace_id=metrics.trace_id,
        run_id=run_id,
    )


def pool_inputs(inputs: Sequence[ComparisonInput]) -> ComparisonInput:
    """Several baseline runs as one (latest last): merged histograms, summed counts, all rps windows.

    A pooled baseline carries less run-to-run noise (``runs`` = how many), so comparisons against it are
    sharper. Score, status and ids are the latest run's.
    """
    if not inputs:
        raise ValueError("pool_inputs needs at least one input")
    if len(inputs) == 1:
        return inputs[0]  # a run's own exact p95/p99, not their ≤ 1 % histogram approximations
    latest = inputs[-1]
    merged: LatencyHistogram | None = LatencyHistogram()
    for item in inputs:
        if item.histogram is None or merged is None:
            merged = None
            break
        merged.merge(item.histogram)
    requests = sum(i.requests for i in inputs)
    errors = sum(i.errors for i in inputs)

    def quantile_ms(q: float, fallback: list[float | None]) -> float | None:
        if merged is not None and merged.count:
            value = merged.quantile(q)
            return None if value is None else value * 1000.0
        known = [v for v in fallback if v is not None]
        return float(np.median(known)) if known else None

    rates = [i.rps for i in inputs if i.rps is not None]
    return ComparisonInput(
        histogram=merged,
        requests=requests,
        errors=errors,
        p95=quantile_ms(0.95, [i.p95 for i in inputs]),
        p99=quantile_ms(0.99, [i.p99 for i in inputs]),
        rps=float(np.mean(rates)) if rates else None,
        error_rate=errors / requests if requests else None,
        rps_windows=np.concatenate([i.rps_windows for i in inputs]),
        score=latest.score,
        status=latest.status,
        trace_id=latest.trace_id,
        run_id=latest.run_id,
        runs=sum(i.runs for i in inputs),
    )


@dataclass(frozen=True)
class _QuantileResult:
    delta: MetricDelta
    improvement_confidence: float | None
    notes: list[str]


def compare(
    current: ComparisonInput,
    baseline: ComparisonInput | None,
    tolerance: Tolerance | RegressionTolerance | None = None,
    *,
    run_noise: float = DEFAULT_RUN_NOISE,
    replicates: int = REPLICATES,
) -> BaselineComparison:
    """The comparison of ``current`` with ``baseline`` (see the module docstring for every rule).

    Without a baseline the run is exploratory: nothing to regress against.
    """
    if baseline is None:
        return BaselineComparison(
            p95_current=current.p95, regressed=False, exploratory=True, notes=["no baseline: exploratory"]
        )
    tol = Tolerance.of(tolerance)
    noise = max(0.0, run_noise) * math.sqrt(1.0 / max(1, current.runs) + 1.0 / max(1, baseline.runs))
    p95 = _quantile_delta(current, baseline, 0.95, tol.p95, noise, replicates)
    p99 = _quantile_delta(current, baseline, 0.99, tol.p99, noise, replicates)
    rps = _rps_delta(current, baseline, tol.rps)
    errors = _error_rate_delta(current, baseline, tol.error_rate)
    deciding = [
        (name, d) for name, d in (("p95", p95.delta), ("rps", rps), ("errorRate", errors)) if d.regressed
    ]
    notes = p95.notes + _mann_whitney_note(current.histogram, baseline.histogram)
    if p99.delta.regressed and not p95.delta.regressed:
        notes.append("p99 moved past its tolerance (reported; p95, rps and error rate decide)")
    notes += [n for n in p99.notes if n not in notes]
    confidence = deciding[0][1].confidence if deciding else p95.delta.confidence
    score_delta = None
    if current.score is not None and baseline.score is not None:
        score_delta = current.score - baseline.score
    return BaselineComparison(
        p95_latency_baseline=baseline.p95,
        p95_current=current.p95,
        delta_latency_p95=p95.delta.delta,
        delta_latency_p95_interval=p95.delta.interval,
        regressed=bool(deciding),
        confidence=confidence,
        method=_method(tol, run_noise, noise, replicates, baseline.runs),
        baseline_trace_id=baseline.trace_id,
        baseline_run_id=baseline.run_id,
        baseline_score=baseline.score,
        baseline_status=_STATUSES.get(baseline.status or ""),
        score_delta=score_delta,
        improvement_confidence=p95.improvement_confidence,
        exploratory=False,
        metrics={"p95": p95.delta, "p99": p99.delta, "rps": rps, "errorRate": errors},
        notes=notes or None,
    )


_STATUSES: dict[str, AnyStatus] = {
    "pass": "pass",
    "warning": "warning",
    "degraded": "degraded",
    "fail": "fail",
    "needs-review": "needs-review",
    "needs-optimization": "needs-optimization",
}


def _method(tol: Tolerance, run_noise: float, noise: float, replicates: int, baseline_runs: int) -> str:
    pooled = f", baseline pooled from {baseline_runs} runs" if baseline_runs > 1 else ""
    latency = (
        f"p95/p99: bootstrap ratio of quantiles ({replicates} multinomial resamples of each latency "
        f"histogram) with run-to-run noise {run_noise:.0%} per run (combined {noise:.1%}{pooled}); "
        f"regressed when the 95% interval is above 0, reaches the {signed_pct(tol.p95)} tolerance "
        f"at its one-sided 90% bound and the point change is at least {signed_pct(tol.p95 / 2)}."
    )
    rps = f"rps: Welch t-test on per-window rps (tolerance {signed_pct(-tol.rps)})."
    errors = f"errorRate: two-proportion z-test (tolerance {signed_pp(tol.error_rate)})."
    return " ".join((latency, rps, errors))


def _seed(*parts: object) -> int:
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        if isinstance(part, LatencyHistogram):
            nz = np.flatnonzero(part.counts)
            digest.update(nz.astype(np.int64).tobytes())
            digest.update(part.counts[nz].astype(np.int64).tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"|")
    return int.from_bytes(digest.digest(), "little")


def _replicate_quantiles(
    histogram: LatencyHistogram, q: float, rng: np.random.Generator, replicates: int
) -> tuple[float, FloatArray]:
    """The histogram's nearest-rank quantile (seconds) and the quantile of ``replicates`` resamples.

    A multinomial resample of n values puts at least ``rank`` of them in buckets 0..k with probability
    P(Binomial(n, F_k) >= rank), F_k being the histogram's cumulative share up to bucket k; that is the
    exact distribution of the resample's quantile, so replicates are drawn from it by inverse CDF. This
    is the multinomial bootstrap without its Monte-Carlo error and in O(buckets + B) time.
    """
    index = np.flatnonzero(histogram.counts)
    counts = histogram.counts[index]
    n = int(counts.sum())
    values = bucket_value(index)
    cumulative = np.cumsum(counts)
    rank = max(1, math.ceil(q * n - 1e-9))
    point = float(values[int(np.searchsorted(cumulative, rank))])
    cdf = np.asarray(stats.binom.sf(rank - 1, n, cumulative / n), dtype=np.float64)
    position = np.searchsorted(cdf, rng.random(replicates), side="left")
    return point, values[np.minimum(position, values.size - 1)]


def _quantile_delta(
    current: ComparisonInput,
    baseline: ComparisonInput,
    q: float,
    tolerance: float,
    noise: float,
    replicates: int,
) -> _QuantileResult:
    name = "p95" if q == 0.95 else "p99"
    cur_hist = current.histogram if current.histogram is not None and current.histogram.count else None
    base_hist = baseline.histogram if baseline.histogram is not None and baseline.histogram.count else None
    cur_point = getattr(current, name)
    base_point = getattr(baseline, name)
    if cur_point is None and cur_hist is not None:
        cur_point = (cur_hist.quantile(q) or 0.0) * 1000.0
    if base_point is None and base_hist is not None:
        base_point = (base_hist.quantile(q) or 0.0) * 1000.0
    if cur_point is None or base_point is None or cur_point <= 0 or base_point <= 0:
        missing = MetricDelta(baseline=base_point, current=cur_point)
        return _QuantileResult(missing, None, [f"{name}: no latency on one side, not compared"])
    rng = np.random.default_rng(
        _seed(cur_hist, base_hist, cur_point, base_point, q, tolerance, noise, replicates)
    )
    notes: list[str] = []
    if cur_hist is not None and base_hist is not None:
        cur_hat, cur_star = _replicate_quantiles(cur_hist, q, rng, replicates)
        base_hat, base_star = _replicate_quantiles(base_hist, q, rng, replicates)
        sampling = np.log(cur_star / base_star) - math.log(cur_hat / base_hat)
    else:
        sampling = np.zeros(replicates)
        notes.append(f"{name}: no latency histogram on one side; interval from run-to-run noise only")
    log_ratio = math.log(cur_point / base_point)
    spread = log_ratio + sampling + rng.normal(0.0, noise, replicates)
    low, high = (math.expm1(v) for v in np.quantile(spread, [_TAIL, 1.0 - _TAIL]))
    point = math.expm1(log_ratio)
    reach = float(np.mean(spread >= math.log1p(tolerance)))
    regressed = low > 0 and reach >= REACH and point >= tolerance / 2
    if name == "p95":  # the deciding quantile: its reach is the one figure the interval does not show
        notes.append(
            f"p95: {reach:.0%} of the replicates at or past the {signed_pct(tolerance)} tolerance "
            f"(it is reached at {REACH:.0%} or more)"
        )
    agreeing = spread > 0 if regressed else spread < math.log1p(tolerance)
    confidence = float(np.mean(agreeing))
    delta = MetricDelta(
        baseline=base_point,
        current=cur_point,
        delta=signed_pct(point),
        interval=Interval(low=signed_pct(low), high=signed_pct(high), level=LEVEL),
        regressed=regressed,
        confidence=confidence,
    )
    return _QuantileResult(delta, float(np.mean(spread < 0)), notes)


def _rps_delta(current: ComparisonInput, baseline: ComparisonInput, tolerance: float) -> MetricDelta:
    c, b = current.rps_windows, baseline.rps_windows
    if c.size < 2 or b.size < 2:
        if current.rps is None or baseline.rps is None or baseline.rps <= 0:
            return MetricDelta(baseline=baseline.rps, current=current.rps)
        point = current.rps / baseline.rps - 1.0
        # Without windows there is no spread to test; only a drop past the whole tolerance counts.
        return MetricDelta(
            baseline=baseline.rps, current=current.rps, delta=signed_pct(point), regressed=point <= -tolerance
        )
    mean_c, mean_b = float(c.mean()), float(b.mean())
    if mean_b <= 0:
        return MetricDelta(baseline=mean_b, current=mean_c)
    var_c, var_b = float(c.var(ddof=1)) / c.size, float(b.var(ddof=1)) / b.size
    se = math.sqrt(var_c + var_b)
    diff = mean_c - mean_b
    point = diff / mean_b
    if se == 0:
        low = high = point
        p_less, p_within = float(diff < 0), float(point > -tolerance)
        reach = 1.0 - p_within
    else:
        df = (var_c + var_b) ** 2 / (
            (var_c**2 / (c.size - 1) if var_c else 0.0) + (var_b**2 / (b.size - 1) if var_b else 0.0)
        )
        t = float(stats.t.ppf(1.0 - _TAIL, df))
        low, high = (diff - t * se) / mean_b, (diff + t * se) / mean_b
        p_less = float(stats.t.cdf(-diff / se, df))
        p_within = float(stats.t.sf((-tolerance * mean_b - diff) / se, df))
        reach = 1.0 - p_within
    regressed = high < 0 and reach >= REACH and point <= -tolerance / 2
    return MetricDelta(
        baseline=mean_b,
        current=mean_c,
        delta=signed_pct(point),
        interval=Interval(low=signed_pct(low), high=signed_pct(high), level=LEVEL),
        regressed=regressed,
        confidence=p_less if regressed else p_within,
    )


def _error_rate_delta(current: ComparisonInput, baseline: ComparisonInput, tolerance: float) -> MetricDelta:
    n1, n0 = current.requests, baseline.requests
    if n1 <= 0 or n0 <= 0:
        return MetricDelta(baseline=baseline.error_rate, current=current.error_rate)
    p1, p0 = current.errors / n1, baseline.errors / n0
    diff = p1 - p0
    pooled = (current.errors + baseline.errors) / (n1 + n0)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    z = float(stats.norm.ppf(1.0 - _TAIL))
    low, high = diff - z * se, diff + z * se
    p_increase = float(stats.norm.sf(diff / se_pooled)) if se_pooled > 0 else (0.0 if diff > 0 else 1.0)
    reach = float(stats.norm.cdf((diff - tolerance) / se)) if se > 0 else float(diff >= tolerance)
    regressed = p_increase < _TAIL and reach >= REACH and diff >= tolerance / 2
    if se > 0:
        confidence = (
            float(stats.norm.cdf(diff / se)) if regressed else float(stats.norm.cdf((tolerance - diff) / se))
        )
    else:
        confidence = 1.0
    return MetricDelta(
        baseline=p0,
        current=p1,
        delta=signed_pp(diff),
        interval=Interval(low=signed_pp(low), high=signed_pp(high), level=LEVEL),
        regressed=regressed,
        confidence=confidence,
    )


def _mann_whitney_note(current: LatencyHistogram | None, baseline: LatencyHistogram | None) -> list[str]:
    """Mann–Whitney U over bucket counts (values in one bucket are ties), normal approximation."""
    if current is None or baseline is None or current.count == 0 or baseline.count == 0:
        return []
    a = current.counts.astype(np.float64)
    b = baseline.counts.astype(np.float64)
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    ties = a + b
    n_a, n_b = float(a.sum()), float(b.sum())
    total = n_a + n_b
    midrank = np.cumsum(ties) - ties + (ties + 1) / 2
    u = float((a * midrank).sum()) - n_a * (n_a + 1) / 2
    tie_term = float((ties**3 - ties).sum()) / (total * (total - 1)) if total > 1 else 0.0
    variance = n_a * n_b / 12 * ((total + 1) - tie_term)
    slower = u / (n_a * n_b)
    if variance <= 0:
        return [f"Mann–Whitney U: P(current slower than baseline) = {slower:.2f} (no spread to test)"]
    z = (u - n_a * n_b / 2) / math.sqrt(variance)
    return [
        f"Mann–Whitney U (histogram buckets, normal approximation): P(current slower than baseline) = "
        f"{slower:.2f}, z = {z:.1f}, one-sided {p_value(float(stats.norm.sf(z)))}"
    ]
