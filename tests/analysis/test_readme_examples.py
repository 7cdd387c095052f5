"""The README's worked examples are printed here: each runs the example's numbers through the real functions
(compare, score_breakdown, evaluate, classify) and must equal the block that stands in README.md between
``<!-- example:NAME -->`` and ``<!-- /example:NAME -->``, so the README and the code cannot drift apart.

When one fails, the assertion shows the block the code prints now: paste it into the README.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import numpy as np

from sk_loadagent.analysis import (
    DEFAULT_RUN_NOISE,
    ComparisonInput,
    classify,
    compare,
    evaluate,
    pool_inputs,
    resolve_limits,
    score_breakdown,
    written_score,
)
from sk_loadagent.histogram import LatencyHistogram
from sk_loadagent.models.metrics import LatencySummary, PerfMetrics
from sk_loadagent.models.thresholds import PerfThresholds

README = Path(__file__).parents[2] / "README.md"
THRESHOLDS = {"latencyP95": 800.0, "errorRateMax": 0.02}


def readme_block(name: str) -> str:
    """The text between the example's markers, without the code block's indentation."""
    found = re.search(rf"<!-- example:{name} -->\n(.*?)<!-- /example:{name} -->", README.read_text(), re.S)
    assert found is not None, f"README.md has no <!-- example:{name} --> block"
    return textwrap.dedent(found.group(1)).strip("\n")


def _latencies(median_ms: float, *, seed: int, n: int = 3000, sigma: float = 0.25) -> np.ndarray:
    """One run's latencies in seconds, lognormal around ``median_ms``."""
    return np.random.default_rng(seed).lognormal(np.log(median_ms), sigma, n) / 1000.0


def _run(values: np.ndarray, *, p95_ms: float | None = None, **fields: object) -> ComparisonInput:
    """A run as memory keeps it: its latency histogram and p95, scaled so that p95 is ``p95_ms`` if given."""
    if p95_ms is not None:
        values = values * p95_ms / (float(np.quantile(values, 0.95, method="inverted_cdf")) * 1000.0)
    histogram = LatencyHistogram.from_values(values)
    p95 = round(float(np.quantile(values, 0.95, method="inverted_cdf")) * 1000.0, 1)
    return ComparisonInput(
        histogram=histogram,
        requests=values.size,
        errors=0,
        p95=p95,
        p99=None,
        rps=None,
        error_rate=0.0,
        **fields,
    )


def verdict_example() -> str:
    """The spike test of spec cycle 4 (p95 600 → 810 ms, 95 of 100 rps, 2.5 % errors, CPU 74.2 %)."""
    thresholds = PerfThresholds.model_validate({"thresholds": THRESHOLDS})
    limits = resolve_limits(
        module_id="CheckoutService",
        edition_id="vetclinic",
        test_type="spike",
        endpoint="/checkout/submit",
        annotation=None,
        files=[thresholds],
        edition_slo=None,
        memory_derived=None,
        target_rps=100.0,
    )
    baseline = _run(_latencies(400, seed=1), p95_ms=600.0, score=1.0, status="pass", run_id="b")
    current = _run(_latencies(400, seed=2), p95_ms=810.0)
    comparison = compare(current, baseline, limits.tolerance)
    metrics = PerfMetrics(
        latency=LatencySummary(p95=810.0),
        rps=95.0,
        target_rps=100.0,
        error_rate=0.025,
        cpu_usage_pct=74.2,
        baseline_comparison=comparison,
    )
    breakdown = score_breakdown(metrics, limits)
    verdict = classify(breakdown.score, evaluate(metrics, limits), comparison, tolerance=limits.tolerance.p95)
    c, w = breakdown.components, breakdown.weights
    parts = [
        (w.latency, c.latency_score),
        (w.throughput, c.throughput_score),
        (w.error_rate, c.error_rate_score),
        (w.resource_utilization, c.resource_utilization_score),
        (w.baseline_delta, c.baseline_delta_score),
    ]
    formula = " + ".join(f"{weight:.2f}·{value:.2f}" for weight, value in parts)
    lines = [
        "spike test: p95 810 ms, 95 rps of 100 offered, error rate 2.5 %, CPU 74.2 %",
        f"perf-thresholds.yaml: {', '.join(f'{k} {v:g}' for k, v in THRESHOLDS.items())}; "
        "baseline: p95 600 ms, pass",
        "",
        f"score = {formula} = {written_score(breakdown.score):.2f}",
        "",
        "verdict.reasons:",
        *(f"  - {reason}" for reason in verdict.reasons),
        f"status {verdict.status}, regression {str(verdict.regression).lower()}",
    ]
    return "\n".join(lines)


def _reach(notes: list[str] | None) -> str:
    (note,) = [n for n in notes or [] if n.startswith("p95: ") and "replicates" in n]
    return note.removeprefix("p95: ").split(" of the replicates")[0]


def regression_example() -> str:
    """A baseline pooled from five runs against a run 33 % slower and one 15 % slower."""
    pooled = pool_inputs([_run(_latencies(80, seed=seed)) for seed in range(1, 6)])
    noise = DEFAULT_RUN_NOISE * math.sqrt(1 + 1 / pooled.runs)
    lines = [
        f"baseline: {pooled.runs} runs pooled ({pooled.requests:,} requests), p95 {pooled.p95:.1f} ms",
        f"run-to-run noise {DEFAULT_RUN_NOISE:.0%} a run: combined "
        f"{DEFAULT_RUN_NOISE:.0%} · √(1 + 1/{pooled.runs}) = {noise:.1%}",
    ]
    for label, slower, seed in (("33 % slower", 1.33, 11), ("15 % slower", 1.15, 12)):
        c = compare(_run(_latencies(80 * slower, seed=seed)), pooled)
        interval = c.delta_latency_p95_interval
        assert interval is not None
        assert c.confidence is not None
        assert c.p95_current is not None
        assert c.method is not None
        assert f"(combined {noise:.1%}, baseline pooled from {pooled.runs} runs)" in c.method
        side = "above 0" if c.regressed else "under +25%"
        lines += [
            "",
            f"a run {label} (3,000 requests): p95 {c.p95_current:.1f} ms, {c.delta_latency_p95} "
            f"[{interval.low}, {interval.high}]",
            f"  replicates at or past +25%: {_reach(c.notes)}",
            f"  regressed {str(c.regressed).lower()}, confidence {c.confidence:.2f} "
            f"(share of replicates {side})",
        ]
    return "\n".join(lines)


def test_the_readme_verdict_example_is_what_the_code_prints() -> None:
    assert readme_block("verdict") == verdict_example()


def test_the_readme_regression_example_is_what_the_code_prints() -> None:
    assert readme_block("regression") == regression_example()
