"""A function-invocation filter that records every skill step for performance-score.log.jsonl."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from semantic_kernel.filters import FunctionInvocationContext

from sk_loadagent.errors import root_cause

# root_cause lives in sk_loadagent.errors (prompts need it too, and prompts sit below the planners); it is
# still importable from here.
__all__ = ["StepRecorder", "root_cause"]


class StepRecorder:
    """Records name, duration and outcome of each kernel function call, with the run's trace context."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def skipped(self, skill: str, function: str, reason: str, trace_id: str | None = None) -> None:
        """A step the planner left out, so the log shows every step of the chain and why one did not run."""
        self.records.append(
            {
                "event": "step",
                "step": f"{skill}-{function}",
                "traceId": trace_id,
                "retryAttempt": 0,
                "startedAt": datetime.now(UTC).isoformat(),
                "durationMs": 0.0,
                "outcome": "skipped",
                "reason": reason,
            }
        )

    def _adopt_trace_id(self, trace_id: Any) -> None:
        # The plan may name the traceId only once interpret has read it: earlier records get it then.
        if trace_id is None:
            return
        for record in self.records:
            if record.get("traceId") is None:
                record["traceId"] = trace_id

    async def __call__(
        self,
        context: FunctionInvocationContext,
        next: Callable[[FunctionInvocationContext], Awaitable[None]],
    ) -> None:
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        outcome, error = "ok", None
        try:
            await next(context)
        except Exception as exc:
            outcome, error = "error", str(root_cause(exc))
            raise
        finally:
            args: Any = context.arguments or {}
            record: dict[str, Any] = {
                "event": "step",
                "step": context.function.fully_qualified_name,
                "traceId": args.get("traceId"),
                "retryAttempt": args.get("retryAttempt", 0),
                "startedAt": started.isoformat(),
                "durationMs": round((time.perf_counter() - t0) * 1000, 3),
                "outcome": outcome,
            }
            if error is not None:
                record["error"] = error
            self.records.append(record)
            self._adopt_trace_id(record["traceId"])
