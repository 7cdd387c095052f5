"""performance-score.log.jsonl (spec cycles 4, 16 and 18): one JSON object per line, each one event.

``event`` says what a line is: ``score`` (the cycle 16 breakdown: components and final score), ``retry``
(the cycle 18 retry metadata), ``step`` (a planner step: name, duration, outcome) or ``threshold`` (a
limit applied to the run). We always write ``event``; a line without it, like the spec's bare examples,
is recognised by its fields (``finalScore``/``latencyScore`` -> score, ``step`` -> step, ``metric`` ->
threshold, ``retryAttempt``/``strategy`` -> retry).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, RootModel, Tag, TypeAdapter, ValidationError

from sk_loadagent.errors import InputError, InputProblem
from sk_loadagent.models._base import Timestamp, WireModel
from sk_loadagent.models.annotation import RetryWith
from sk_loadagent.models.loading import problems_from, read_text
from sk_loadagent.models.metrics import AnyStatus, ScoreWeights, Status

RetryStrategy = Literal["standard", "throttled", "staged", "warm-start", "memory-guided"]
EVENTS: tuple[str, ...] = ("score", "retry", "step", "threshold")

_Score = Annotated[float, Field(ge=0, le=1)]


class _Scoped(WireModel):
    """The fields every line may carry to say which run it belongs to and when it was written."""

    trace_id: str | None = None
    module_id: str | None = None
    edition_id: str | None = None
    test_type: str | None = None
    test_name: str | None = None
    retry_attempt: int | None = Field(default=None, ge=0)
    at: Timestamp | None = None


class ScoreLine(_Scoped):
    """Cycle 16: the score components, the final score and (optionally) the weights used."""

    event: Literal["score"] = "score"
    latency_score: _Score
    throughput_score: _Score
    error_rate_score: _Score
    resource_utilization_score: _Score | None = None  # absent: not measured, left out of the score
    baseline_delta_score: _Score
    final_score: _Score
    weights: ScoreWeights | None = None
    status: Status | None = None


class RetryResult(WireModel):
    performance_score: _Score | None = None
    status: AnyStatus | None = None


class RetryLine(_Scoped):
    """Cycle 18: a retry, why and how it was adjusted, and (once known) what it gave."""

    event: Literal["retry"] = "retry"
    original_status: AnyStatus | None = None
    strategy: RetryStrategy | None = None
    adjustments: RetryWith | None = None
    reason: str | None = None
    retry_result: RetryResult | None = None


class StepLine(_Scoped):
    """A planner step: its name (``Skill.function``), how long it took and how it ended."""

    event: Literal["step"] = "step"
    step: str = Field(min_length=1)
    duration_ms: float = Field(ge=0)
    outcome: Literal["ok", "failed", "skipped"]
    message: str | None = None


class ThresholdLine(_Scoped):
    """A limit applied to the run, where it came from, and whether the run kept to it."""

    event: Literal["threshold"] = "threshold"
    metric: str = Field(min_length=1)
    limit: float
    source: str
    observed: float | None = None
    breached: bool | None = None
    severity: Literal["minor", "significant"] | None = None


# Tags are class names, not event names: a tag shows up in error locations and must not look like a field.
_TAGS = {"score": "ScoreLine", "retry": "RetryLine", "step": "StepLine", "threshold": "ThresholdLine"}


def _event_name(value: dict[str, Any]) -> str | None:
    if "event" in value:
        return value["event"] if isinstance(value["event"], str) else None
    keys = set(value)
    if keys & {"finalScore", "final_score", "latencyScore", "latency_score"}:
        return "score"
    if "step" in keys:
        return "step"
    if "metric" in keys:
        return "threshold"
    if keys & {"retryAttempt", "retry_attempt", "strategy", "originalStatus", "original_status"}:
        return "retry"
    return None


def _line_tag(value: Any) -> str | None:
    if isinstance(value, _Scoped):
        return type(value).__name__
    if not isinstance(value, dict):
        return None
    return _TAGS.get(_event_name(value) or "")


ScoreLogEntry = Annotated[
    Annotated[ScoreLine, Tag("ScoreLine")]
    | Annotated[RetryLine, Tag("RetryLine")]
    | Annotated[StepLine, Tag("StepLine")]
    | Annotated[ThresholdLine, Tag("ThresholdLine")],
    Discriminator(
        _line_tag,
        custom_error_type="score_log_event",
        custom_error_message="a line whose event is score, retry, step or threshold",
    ),
]
"""One line of the log, whichever event it is."""


class ScoreLogLine(RootModel[ScoreLogEntry]):
    """One line as a document, so ``load_document`` can read a single-line file or a pretty-printed line."""


_LINE = TypeAdapter[ScoreLogEntry](ScoreLogEntry)


def parse_score_log(text: str, source: str) -> list[ScoreLogEntry]:
    """Every line of a log (blank lines skipped); all bad lines are reported at once, by line number."""
    entries: list[ScoreLogEntry] = []
    problems: list[InputProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(InputProblem(f"line {number}", "a JSON object", f"a syntax error ({exc.msg})"))
            continue
        try:
            entries.append(_LINE.validate_python(data))
        except ValidationError as exc:
            for p in problems_from(exc, data=data, model=ScoreLogLine):
                problems.append(
                    InputProblem(
                        f"line {number}: {p.field}" if p.field else f"line {number}", p.expected, p.got
                    )
                )
    if problems:
        raise InputError(source, problems)
    return entries


def load_score_log(path: str | Path) -> list[ScoreLogEntry]:
    """Read a performance-score.log.jsonl file."""
    return parse_score_log(read_text(path), str(path))


def score_log_line(entry: ScoreLogEntry) -> str:
    """One line to append to the log (no newline): camelCase, ``event`` always present, nulls left out."""
    return json.dumps(entry.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False)
