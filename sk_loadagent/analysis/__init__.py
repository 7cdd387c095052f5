"""Analysis: turns what a run collected into figures, limits, a score, a verdict and memory decisions.

Plain functions over numpy arrays and pydantic models: no I/O, no stores, no Semantic Kernel. Every
verdict carries human-readable reasons and every random choice is seeded from the inputs.
"""

from sk_loadagent.analysis.changepoint import ChangePoint, change_points
from sk_loadagent.analysis.history import (
    CHANGE_POINT_WINDOW,
    HistoryEntry,
    SeriesChangePoint,
    SeriesChangePoints,
    baseline_pool,
    change_point_note,
    edition_deviation,
    measured_runs,
    obsolete_after_regressions,
    obsolete_suggestion,
    p95_run_noise,
    run_noise_for,
    score_regression,
    select_baseline,
    series_change_points,
    should_promote,
)
from sk_loadagent.analysis.outage import detect_infrastructure_failure
from sk_loadagent.analysis.regression import (
    DEFAULT_RUN_NOISE,
    ComparisonInput,
    compare,
    comparison_input,
    pool_inputs,
)
from sk_loadagent.analysis.retry import (
    RetryDecision,
    detect_cold_start,
    detect_cpu_spike,
    detect_generator_saturation,
    detect_infrastructure_anomaly,
    retry_decision,
)
from sk_loadagent.analysis.scoring import (
    ScoreBreakdown,
    WeightOverride,
    resolve_weights,
    score,
    score_breakdown,
)
from sk_loadagent.analysis.summary import summarize
from sk_loadagent.analysis.thresholds import (
    Limit,
    ResolvedLimits,
    Tolerance,
    evaluate,
    resolve_limits,
    step_limits,
)
from sk_loadagent.analysis.verdict import (
    GateEntry,
    GateResult,
    PreviousRun,
    TypeReading,
    Verdict,
    classify,
    gate,
    type_reading,
    written_score,
)

__all__ = [
    "CHANGE_POINT_WINDOW",
    "DEFAULT_RUN_NOISE",
    "ChangePoint",
    "ComparisonInput",
    "GateEntry",
    "GateResult",
    "HistoryEntry",
    "Limit",
    "PreviousRun",
    "ResolvedLimits",
    "RetryDecision",
    "ScoreBreakdown",
    "SeriesChangePoint",
    "SeriesChangePoints",
    "Tolerance",
    "TypeReading",
    "Verdict",
    "WeightOverride",
    "baseline_pool",
    "change_point_note",
    "change_points",
    "classify",
    "compare",
    "comparison_input",
    "detect_cold_start",
    "detect_cpu_spike",
    "detect_generator_saturation",
    "detect_infrastructure_anomaly",
    "detect_infrastructure_failure",
    "edition_deviation",
    "evaluate",
    "gate",
    "measured_runs",
    "obsolete_after_regressions",
    "obsolete_suggestion",
    "p95_run_noise",
    "pool_inputs",
    "resolve_limits",
    "resolve_weights",
    "retry_decision",
    "run_noise_for",
    "score",
    "score_breakdown",
    "score_regression",
    "select_baseline",
    "series_change_points",
    "should_promote",
    "step_limits",
    "summarize",
    "type_reading",
    "written_score",
]
