"""A function-invocation filter that records every skill step for performance-score.log.jsonl."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from semantic_kernel.filters import FunctionInvocationContext

from sk_loadagent.errors import LoadAgentError


def root_cause(exc: BaseException) -> BaseException:
    """Semantic Kernel wraps a function's exception two or three times; the user needs the innermost one."""
    seen: set[int] = set()
    while not isinstance(exc, LoadAgentError) and id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if inner is None:
            break
        exc = inner
    return exc


class StepRecorder:
    """Records name, duration and outcome of each kernel function call, with the run's trace context."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

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
