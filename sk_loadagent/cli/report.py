"""The summary table printed at the end of a run."""

from __future__ import annotations

from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish.text import tile_summary


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _baseline(test: PerfMetrics) -> str:
    c = test.baseline_comparison
    if c is None:
        return "not compared"
    if test.infrastructure_failure is not None:
        return "not judged (infrastructure failure)"
    if c.exploratory or c.p95_latency_baseline is None:
        return "no baseline (exploratory)"
    verdict = "REGRESSED" if c.regressed else "ok"
    conf = f", conf {c.confidence:.2f}" if c.confidence is not None else ""
    return f"{c.delta_latency_p95} {verdict}{conf}"


def summary_table(suite: PerfMetrics) -> str:
    header = (
        f"{'test':<30} {'status':<9} {'score':>5} {'rps':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'errors':>7}  p95 vs baseline"
    )
    rows = [header, "-" * len(header)]
    for t in suite.tests or [suite]:
        label = t.test_name or f"{t.test_type} {t.endpoint}"
        if t.excluded_from_gate:
            label += " (not gated)"
        lat = t.latency
        rows.append(
            f"{label[:30]:<30} {t.status or '-':<9} {_num(t.performance_score, '.2f'):>5} "
            f"{_num(t.rps, '.1f'):>8} "
            f"{_num(lat.p50 if lat else None, '.2f'):>8} {_num(lat.p95 if lat else None, '.2f'):>8} "
            f"{_num(lat.p99 if lat else None, '.2f'):>8} "
            f"{_num(t.error_rate * 100 if t.error_rate is not None else None, '.2f'):>6}%  {_baseline(t)}"
        )
    return "\n".join(rows)


def reasons_block(suite: PerfMetrics) -> str:
    lines: list[str] = []
    for t in suite.tests or [suite]:
        label = t.test_name or f"{t.test_type} {t.endpoint}"
        for reason in t.reasons or []:
            lines.append(f"  {label}: {reason}")
        for warning in t.warnings or []:
            lines.append(f"  {label}: warning: {warning}")
    return "\n".join(lines)


def suite_line(suite: PerfMetrics) -> str:
    return f"Summary: {tile_summary(suite)}"
