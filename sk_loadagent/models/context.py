"""The context variables of spec cycles 3 and 6 that travel with a run in KernelArguments."""

from __future__ import annotations

from pydantic import Field

from sk_loadagent.models._base import WireModel
from sk_loadagent.models.durations import Duration

CONTEXT_KEYS: tuple[str, ...] = (
    "traceId",
    "editionId",
    "moduleId",
    "testType",
    "sourceAgent",
    "executionWindow",
    "memoryCompare",
    "previousScore",
    "retryAttempt",
)


class RunContext(WireModel):
    """traceId, editionId, moduleId, testType, sourceAgent, executionWindow, memoryCompare, previousScore,
    retryAttempt: the scope of a run and the state a retry carries forward."""

    trace_id: str | None = None
    edition_id: str | None = None
    module_id: str | None = None
    test_type: str | None = None
    source_agent: str | None = None
    execution_window: Duration | None = None
    memory_compare: bool = True
    previous_score: float | None = Field(default=None, ge=0, le=1)
    retry_attempt: int = Field(default=0, ge=0)
