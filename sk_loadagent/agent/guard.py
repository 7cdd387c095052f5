"""Host-side guard rails for a model driving the agent, as Semantic Kernel filters.

Before a tool runs, the guard checks what only the host may decide, whatever the model asked for:

- **calls**: at most ``budget.calls`` tool calls per session; the one past the cap is refused and the
  conversation ends;
- **allow-list**: a run's target must be loopback or on the host's allow-list (``--allow-host``); the model's
  arguments never add to it;
- **budget**: a run's scheduled load (every attempt counted) must fit what is left of the session's
  ``budget.load_seconds``; its peak arrival rate must not exceed ``budget.peak_rps``, nor its sessions
  ``budget.vus``.

A refusal goes back to the model as the tool's result (``REFUSED: …``) and nothing runs. An invalid
argument (an unknown plan id, a number that is no number) comes back as ``ERROR: …`` with the validation
message, also without running anything. Results go back as JSON text.

A chat agent's tool calls pass ``auto_function_filter`` (AUTO_FUNCTION_INVOCATION); an MCP client's pass
``function_filter`` (FUNCTION_INVOCATION), since MCP calls do not run the auto filters, and get a refusal or
an invalid argument as an error result with the same text.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from semantic_kernel.filters import (
    AutoFunctionInvocationContext,
    FilterTypes,
    FunctionInvocationContext,
)
from semantic_kernel.functions import FunctionResult, KernelFunction
from semantic_kernel.kernel import Kernel

from sk_loadagent.agent.plugin import PLUGIN_NAME, LoadAgentPlugin
from sk_loadagent.agent.session import Budget, PlannedLoad, Session, planned_load
from sk_loadagent.engine import check_target
from sk_loadagent.errors import LoadAgentError, TargetNotAllowedError, root_cause
from sk_loadagent.skills._coerce import required_execution_plan

# Tools that send load, and how the guard learns what they would send.
RUN_SUITE = f"{PLUGIN_NAME}-run_suite"
RUN_LOAD_TESTS = "LoadRunnerExecutor-run_load_tests"
INTERPRET_PLAN = "TestPlanInterpreter-interpret_plan"
FILE_ARGUMENTS = ("metadataFile", "editionsFile", "annotationsFile", "weightingFile", "baselineFile")


def as_json(value: Any) -> str:
    """A tool's result as JSON text for a model (Semantic Kernel would send Python's repr of a dict)."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


def budget_refusal(planned: PlannedLoad, budget: Budget, left_seconds: float) -> str | None:
    """Why a run that would send ``planned`` does not fit the budget (``left_seconds`` of load left)."""
    if planned.peak_rps > budget.peak_rps:
        return (
            f"REFUSED: the run peaks at {planned.peak_rps:g} rps, above the session's limit of "
            f"{budget.peak_rps:g} rps (--max-rps)"
        )
    if planned.vus > budget.vus:
        return f"REFUSED: the run needs {planned.vus} VUs; the limit is {budget.vus} (--max-vus)"
    if planned.seconds > left_seconds:
        return (
            f"REFUSED: the run schedules {planned.seconds:g} s of load and {left_seconds:g} s of "
            f"the session's {budget.load_seconds:g} s budget are left (--budget-seconds)"
        )
    return None


class SessionGuard:
    """The guard rails of one session (see the module's docstring)."""

    def __init__(self, session: Session, plugin: LoadAgentPlugin, files_root: Path | None = None) -> None:
        self.session = session
        self.plugin = plugin
        # Where a client may name input files (the MCP server's folder): interpret_plan reads the files it
        # is given, and its error messages quote their content.
        self.files_root = files_root.resolve() if files_root is not None else None
        self.refusals: list[str] = []

    def _file_outside(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """The first file argument of interpret_plan outside ``files_root``, or None."""
        if self.files_root is None or name != INTERPRET_PLAN:
            return None
        named: list[Any] = [arguments.get("plan"), *(arguments.get("thresholdFiles") or [])]
        named += [arguments.get(key) for key in FILE_ARGUMENTS]
        for value in named:
            if isinstance(value, str) and not (self.files_root / value).resolve().is_relative_to(
                self.files_root
            ):
                return value
        return None

    @property
    def left_seconds(self) -> float:
        return max(0.0, self.session.config.budget.load_seconds - self.session.load_used)

    def _planned(self, name: str, arguments: Mapping[str, Any]) -> PlannedLoad | None:
        if name == RUN_SUITE:
            return self.plugin.preflight(arguments.get("planId"), arguments.get("targetUrl"))
        if name == RUN_LOAD_TESTS:
            plan = required_execution_plan(arguments.get("executionPlan"))
            check_target(plan.base_url, self.session.config.allow_hosts)
            return planned_load(plan, attempts=1)
        return None

    def refusal(self, name: str, arguments: Mapping[str, Any]) -> str | None:
        """Why this call may not run (and is counted), or None."""
        budget = self.session.config.budget
        self.session.calls += 1
        if self.session.calls > budget.calls:
            return f"REFUSED: the session's limit of {budget.calls} tool calls is reached (--max-calls)"
        outside = self._file_outside(name, arguments)
        if outside is not None:
            return (
                f"REFUSED: {outside} is outside the folder this server reads files from ({self.files_root})"
            )
        try:
            planned = self._planned(name, arguments)
        except TargetNotAllowedError as exc:
            hosts = ", ".join(self.session.config.allow_hosts) or "none"
            return (
                f"REFUSED: {exc.source} is neither loopback nor on the host's allow-list (hosts allowed "
                f"beyond loopback: {hosts}); only the operator can allow a host (--allow-host), not a tool "
                "argument"
            )
        except LoadAgentError as exc:
            return f"ERROR: {exc}"
        return None if planned is None else budget_refusal(planned, budget, self.left_seconds)

    def _refused(self, function: KernelFunction, text: str) -> FunctionResult:
        self.refusals.append(text)
        return FunctionResult(function=function.metadata, value=text)

    async def auto_function_filter(
        self,
        context: AutoFunctionInvocationContext,
        next: Callable[[AutoFunctionInvocationContext], Awaitable[None]],
    ) -> None:
        text = self.refusal(context.function.fully_qualified_name, context.arguments or {})
        if text is not None:
            context.function_result = self._refused(context.function, text)
            # Past the call cap the conversation ends: the model gets no further turn to spend.
            context.terminate = self.session.calls > self.session.config.budget.calls
            return
        await json_results(context, next)

    async def function_filter(
        self,
        context: FunctionInvocationContext,
        next: Callable[[FunctionInvocationContext], Awaitable[None]],
    ) -> None:
        """For MCP clients: a refusal or an invalid argument is raised with its message, which the MCP
        server returns as an error result (``isError``); a result is JSON text."""
        text = self.refusal(context.function.fully_qualified_name, context.arguments or {})
        if text is not None:
            self.refusals.append(text)
            raise ToolRefusedError(text)
        try:
            await next(context)
        except Exception as exc:
            cause = root_cause(exc)
            if isinstance(cause, LoadAgentError):
                raise cause from None  # the client reads str(error): ours, not the kernel's wrapper
            raise
        if context.result is not None:
            context.result = FunctionResult(
                function=context.function.metadata, value=as_json(context.result.value)
            )


class ToolRefusedError(LoadAgentError):
    """A tool call the guard refused, raised for an MCP client."""

    exit_code = 2


async def errors_as_results(
    context: FunctionInvocationContext, next: Callable[[FunctionInvocationContext], Awaitable[None]]
) -> None:
    """A tool that refuses its arguments answers the model with the message (``ERROR: …``) instead of
    Semantic Kernel's "An error occurred while invoking the function". Bugs still raise."""
    try:
        await next(context)
    except Exception as exc:
        cause = root_cause(exc)
        if not isinstance(cause, LoadAgentError):
            raise
        context.result = FunctionResult(function=context.function.metadata, value=f"ERROR: {cause}")


async def json_results(
    context: AutoFunctionInvocationContext, next: Callable[[AutoFunctionInvocationContext], Awaitable[None]]
) -> None:
    """A tool's result goes back to the model as JSON text."""
    await next(context)
    if context.function_result is not None:
        context.function_result = FunctionResult(
            function=context.function.metadata, value=as_json(context.function_result.value)
        )


def for_models(kernel: Kernel) -> Kernel:
    """Filters for a kernel whose skills a chat model calls directly, without a session's guard: results as
    JSON, and a refused argument answered with its message. (The load runner still only loads loopback and
    its configured hosts.)"""
    kernel.add_filter(FilterTypes.AUTO_FUNCTION_INVOCATION, json_results)
    kernel.add_filter(FilterTypes.FUNCTION_INVOCATION, errors_as_results)
    return kernel


def guard_chat_kernel(kernel: Kernel, guard: SessionGuard) -> None:
    """Filters for a kernel a chat model calls tools on."""
    kernel.add_filter(FilterTypes.AUTO_FUNCTION_INVOCATION, guard.auto_function_filter)
    kernel.add_filter(FilterTypes.FUNCTION_INVOCATION, errors_as_results)


def guard_mcp_kernel(kernel: Kernel, guard: SessionGuard) -> None:
    """The filter for a kernel an MCP client calls tools on."""
    kernel.add_filter(FilterTypes.FUNCTION_INVOCATION, guard.function_filter)
