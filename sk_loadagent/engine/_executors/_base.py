"""What every executor config shares: stages on a timeline, the phases they form, and a human description.

A config is strictly validated (all problems at once, by pydantic) and explains itself; the run loops in
``engine._open_loop`` and ``engine._closed_loop`` execute the segments a config produces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from sk_loadagent.engine._schedule import RateSegment, VuSegment
from sk_loadagent.engine.result import Phase
from sk_loadagent.models._base import FieldProblem, WireModel
from sk_loadagent.models.durations import format_duration

Model = Literal["open", "closed"]


class Stage(WireModel):
    """Move linearly to ``target`` over ``duration``; ``start`` jumps to a level first (None: carry on).

    ``phase`` names the part of the run the stage belongs to; stages of one phase are consecutive and share
    ``measured``. ``variant`` picks the request template (payload size) of an open-model stage.
    """

    model_config = ConfigDict(frozen=True)

    duration: float = Field(gt=0)
    target: float = Field(ge=0)
    start: float | None = Field(default=None, ge=0)
    phase: str = Field(default="steady", min_length=1)
    measured: bool = True
    variant: int = Field(default=0, ge=0)


class TimedStage:
    """A stage placed on the timeline, with its start level resolved."""

    __slots__ = ("end", "level_end", "level_start", "stage", "start")

    def __init__(self, stage: Stage, start: float, level_start: float) -> None:
        self.stage = stage
        self.start = start
        self.end = start + stage.duration
        self.level_start = level_start
        self.level_end = stage.target


class ExecutorBase(WireModel):
    """Base of the four executor configs."""

    model_config = ConfigDict(frozen=True)

    model: ClassVar[Model]
    unit: ClassVar[str]

    def stage_list(self) -> list[Stage]:
        raise NotImplementedError

    def initial_level(self) -> float:
        return 0.0

    def timeline(self) -> list[TimedStage]:
        out: list[TimedStage] = []
        t, level = 0.0, self.initial_level()
        for stage in self.stage_list():
            begin = level if stage.start is None else stage.start
            out.append(TimedStage(stage, t, begin))
            t, level = t + stage.duration, stage.target
        return out

    @property
    def total_duration(self) -> float:
        return sum(s.duration for s in self.stage_list())

    def peak(self) -> float:
        return max(max(s.level_start, s.level_end) for s in self.timeline())

    def rate_segments(self) -> list[RateSegment]:
        return [
            RateSegment(s.start, s.end, s.level_start, s.level_end, s.stage.variant) for s in self.timeline()
        ]

    def vu_segments(self) -> list[VuSegment]:
        return [VuSegment(s.start, s.end, s.level_start, s.level_end) for s in self.timeline()]

    def phases(self, payload_sizes: Sequence[int] = ()) -> list[Phase]:
        """Consecutive stages of one phase name form one Phase; open phases carry their mean offered rate."""
        phases: list[Phase] = []
        groups: list[list[TimedStage]] = []
        for timed in self.timeline():
            if groups and groups[-1][0].stage.phase == timed.stage.phase:
                groups[-1].append(timed)
            else:
                groups.append([timed])
        for group in groups:
            start, end = group[0].start, group[-1].end
            first = group[0].stage
            phase = Phase(name=first.phase, start=start, end=end, measured=first.measured)
            if self.model == "open":
                arrivals = sum((s.level_start + s.level_end) / 2 * (s.end - s.start) for s in group)
                phase.target_rps = arrivals / (end - start)
                variants = {s.stage.variant for s in group}
                if payload_sizes and len(variants) == 1:
                    phase.payload_bytes = payload_sizes[variants.pop()]
            else:
                phase.target_vus = int(group[-1].level_end)
            phases.append(phase)
        return phases

    def describe(self, payload_sizes: Sequence[int] = ()) -> str:
        """k6-style: ``ramp 0→100 rps over 30s, hold 100 rps for 5m (measured)``."""
        timeline = self.timeline()
        measured_phases = {s.stage.phase for s in timeline if s.stage.measured}
        parts: list[str] = []
        for i, timed in enumerate(timeline):
            text = self._describe_stage(timed, payload_sizes)
            last_of_phase = i + 1 == len(timeline) or timeline[i + 1].stage.phase != timed.stage.phase
            if last_of_phase:
                note = _phase_note(timed.stage, single_measured=len(measured_phases) == 1)
                text = f"{text} ({note})" if note else text
            parts.append(text)
        return ", ".join(parts)

    def _describe_stage(self, timed: TimedStage, payload_sizes: Sequence[int]) -> str:
        a, b = _number(timed.level_start), _number(timed.level_end)
        span = format_duration(timed.stage.duration)
        text = f"hold {b} {self.unit} for {span}" if a == b else f"ramp {a}→{b} {self.unit} over {span}"
        if payload_sizes:
            text += f" with {payload_sizes[timed.stage.variant]} B bodies"
        return text

    @model_validator(mode="after")
    def _check_stages(self) -> ExecutorBase:
        stages = self.stage_list()
        seen: dict[str, bool] = {}
        previous = None
        for stage in stages:
            if stage.phase != previous and stage.phase in seen:
                raise FieldProblem("stages", f"stages of phase {stage.phase!r} next to each other")
            if seen.get(stage.phase, stage.measured) != stage.measured:
                raise FieldProblem("stages", f"one measured flag for every stage of phase {stage.phase!r}")
            seen[stage.phase] = stage.measured
            previous = stage.phase
        if not any(seen.values()):
            raise FieldProblem("stages", "at least one measured stage")
        if self.peak() <= 0:
            raise FieldProblem("stages", f"a target above 0 {self.unit} in at least one stage")
        return self


def _phase_note(stage: Stage, *, single_measured: bool) -> str:
    if stage.measured:
        return "measured" if single_measured else f"{stage.phase}, measured"
    return "" if stage.phase == "ramp-up" else f"{stage.phase}, not measured"


def _number(value: float) -> str:
    return f"{value:g}"
