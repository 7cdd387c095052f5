"""LoadRunnerExecutorSkill (spec cycle 6): runs each planned test with the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from sk_loadagent.engine import Progress, RunOptions
from sk_loadagent.skills._coerce import argument, attempt_number, required_execution_plan
from sk_loadagent.skills._runs import RunResultCache
from sk_loadagent.skills._schema import takes, tool_function
from sk_loadagent.suite.execute import run_tests
from sk_loadagent.suite.execution_plan import ExecutionPlan


class LoadRunnerExecutor:
    """Executes the load tests of an execution plan and samples the target's CPU and memory meanwhile.

    The runs stay in ``runs`` (give PerfMetricCollector the same cache); a caller gets their id. Load goes
    only to loopback and to ``options.allow_hosts``, whatever the execution plan says.
    """

    def __init__(
        self,
        options: RunOptions | None = None,
        *,
        target_pid: int | None = None,
        progress: Callable[[str, Progress], None] | None = None,
        runs: RunResultCache | None = None,
    ) -> None:
        self.options = options or RunOptions()
        self.target_pid = target_pid
        self.progress = progress
        self.runs = runs if runs is not None else RunResultCache()

    @tool_function(
        name="run_load_tests",
        description=(
            "Run the load tests of an execution plan (all, or the listed test indices on a retry); returns "
            "a runResultsId for collect_metrics and one line per test."
        ),
    )
    async def run_load_tests(
        self,
        executionPlan: Annotated[Any, takes(ExecutionPlan, "the execution plan from interpret_plan")],
        retryTests: Annotated[
            Any, takes(list[int] | None, "indices of the tests to re-run on a retry")
        ] = None,
        retryAttempt: Annotated[Any, takes(int, "0 for the first attempt, then 1, 2, ...")] = 0,
    ) -> dict[str, Any]:
        plan = required_execution_plan(executionPlan)
        retry_tests = argument("retryTests", list[int] | None, retryTests)
        only = retry_tests if attempt_number(retryAttempt) and retry_tests else None
        runs = await run_tests(
            plan, tests=only, options=self.options, target_pid=self.target_pid, progress=self.progress
        )
        return self.runs.put(runs).to_wire()
