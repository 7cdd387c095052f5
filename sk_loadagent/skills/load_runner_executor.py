"""LoadRunnerExecutorSkill (spec cycle 6): runs each planned test with the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from semantic_kernel.functions import kernel_function

from sk_loadagent.engine import Progress, RunOptions
from sk_loadagent.skills._coerce import attempt_number, required_execution_plan
from sk_loadagent.suite.execute import TestRun, run_tests


class LoadRunnerExecutor:
    """Executes the load tests of an execution plan and samples the target's CPU and memory meanwhile."""

    def __init__(
        self,
        options: RunOptions | None = None,
        *,
        target_pid: int | None = None,
        progress: Callable[[str, Progress], None] | None = None,
    ) -> None:
        self.options = options or RunOptions()
        self.target_pid = target_pid
        self.progress = progress

    @kernel_function(
        name="run_load_tests",
        description="Run the load tests of an execution plan (all, or the listed test indices on a retry).",
    )
    async def run_load_tests(
        self,
        executionPlan: Annotated[dict[str, Any], "the execution plan from interpret_plan"],
        retryTests: Annotated[list[int] | None, "indices of the tests to re-run on a retry"] = None,
        retryAttempt: Annotated[int, "0 for the first attempt"] = 0,
    ) -> list[TestRun]:
        plan = required_execution_plan(executionPlan)
        only = retryTests if attempt_number(retryAttempt) and retryTests else None
        return await run_tests(
            plan, tests=only, options=self.options, target_pid=self.target_pid, progress=self.progress
        )
