"""The wire contracts of sk-loadagent: every file it reads or writes, as pydantic models.

Attributes are snake_case in Python and camelCase on the wire. Read a file with
``load_document(path, Model)``: each problem reads ``<file>: <field>: expected <what>, got <value>``.
"""

from sk_loadagent.models._base import FieldProblem, OpenWireModel, WireModel
from sk_loadagent.models.alert import RegressionAlert
from sk_loadagent.models.annotation import (
    AnnotationDirective,
    AnnotationFlags,
    RetryWith,
    StudioAnnotations,
    merge_limits,
)
from sk_loadagent.models.baseline import PerfBaseline
from sk_loadagent.models.context import RunContext
from sk_loadagent.models.doc_coverage import DocCoverage, ModuleCoverage, ScorePoint
from sk_loadagent.models.durations import Duration, format_duration, parse_duration
from sk_loadagent.models.edition import Edition, EditionConfig, ScoringCalibration, TrafficModel
from sk_loadagent.models.loading import load_document, read_document, validate_document
from sk_loadagent.models.metadata import Endpoint, EventQueue, ResourceContract, ServiceMetadata
from sk_loadagent.models.metrics import (
    BaselineComparison,
    ChangePointMark,
    EffectiveLimit,
    GeneratorStats,
    LatencySummary,
    PerfMetrics,
    ScoreComponents,
    ScoreWeights,
    Status,
    Violation,
)
from sk_loadagent.models.observability import ObservabilityConfig, ProcessSelector, SignalSource
from sk_loadagent.models.plan import TEST_TYPES, TestSpec, TestSuitePlan, TestType
from sk_loadagent.models.preview import BadgeSummary, LoadTestResult, PerformancePreview, StudioTile
from sk_loadagent.models.score_log import (
    RetryLine,
    ScoreLine,
    ScoreLogEntry,
    ScoreLogLine,
    StepLine,
    ThresholdLine,
    load_score_log,
    parse_score_log,
    score_log_line,
)
from sk_loadagent.models.thresholds import PerfThresholds, RegressionTolerance, ScopedLimits, ThresholdLimits
from sk_loadagent.models.trace_map import LoadTraceMap, TraceMapEntry
from sk_loadagent.models.trace_plan import FlowGroup, FlowStep, TracePlan
from sk_loadagent.models.trace_summary import Span, TraceSummary
from sk_loadagent.models.weighting import CustomWeighting, PartialWeights, WeightingEntry

__all__ = [
    "TEST_TYPES",
    "AnnotationDirective",
    "AnnotationFlags",
    "BadgeSummary",
    "BaselineComparison",
    "ChangePointMark",
    "CustomWeighting",
    "DocCoverage",
    "Duration",
    "Edition",
    "EditionConfig",
    "EffectiveLimit",
    "Endpoint",
    "EventQueue",
    "FieldProblem",
    "FlowGroup",
    "FlowStep",
    "GeneratorStats",
    "LatencySummary",
    "LoadTestResult",
    "LoadTraceMap",
    "ModuleCoverage",
    "ObservabilityConfig",
    "OpenWireModel",
    "PartialWeights",
    "PerfBaseline",
    "PerfMetrics",
    "PerfThresholds",
    "PerformancePreview",
    "ProcessSelector",
    "RegressionAlert",
    "RegressionTolerance",
    "ResourceContract",
    "RetryLine",
    "RetryWith",
    "RunContext",
    "ScopedLimits",
    "ScoreComponents",
    "ScoreLine",
    "ScoreLogEntry",
    "ScoreLogLine",
    "ScorePoint",
    "ScoreWeights",
    "ScoringCalibration",
    "ServiceMetadata",
    "SignalSource",
    "Span",
    "Status",
    "StepLine",
    "StudioAnnotations",
    "StudioTile",
    "TestSpec",
    "TestSuitePlan",
    "TestType",
    "ThresholdLimits",
    "ThresholdLine",
    "TraceMapEntry",
    "TracePlan",
    "TraceSummary",
    "TrafficModel",
    "Violation",
    "WeightingEntry",
    "WireModel",
    "format_duration",
    "load_document",
    "load_score_log",
    "merge_limits",
    "parse_duration",
    "parse_score_log",
    "read_document",
    "score_log_line",
    "validate_document",
]
