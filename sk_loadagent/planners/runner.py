"""Executes a SkillChain over KernelArguments, looping back for retries through the context variables.

The loop is visible here rather than hidden in a skill: after ``recommend_retry`` says so, the runner raises
``retryAttempt``, names the tests to retry and their adjustments in the arguments, and runs interpret →
evaluate again; the interpreter and the executor read those variables. Publish and push run once, on the
merged outcome of all attempts.

The runner also keeps the retry phase's clock: before each decision it puts the time left in the budget
(``retryBudget``) and the trigger kinds that already retried each test (``retriedFor``) in the arguments,
and before each retry it pauses for the decision's cool-down, shortened to what the budget leaves.
"""

from __future__ import annotations

import asyncio
from typing import Any

from semantic_kernel import Kernel
from semantic_kernel.functions import KernelArguments

from sk_loadagent.planners.chain import INTERPRET, PUBLISH, PUSH, RETRY_CHECK, PlanStep, SkillChain
from sk_loadagent.suite.retries import AttemptLedger, RetryClock


async def invoke_step(kernel: Kernel, step: PlanStep, arguments: KernelArguments) -> Any:
    result = await kernel.invoke(plugin_name=step.skill, function_name=step.function, arguments=arguments)
    value = result.value if result is not None else None
    arguments[step.output] = value
    return value


def _adopt_scope(arguments: KernelArguments, plan: dict[str, Any]) -> None:
    """The plan may set the scope the caller left open: later steps and the step log see it."""
    for key in ("traceId", "editionId", "moduleId", "sourceAgent"):
        if arguments.get(key) is None and plan.get(key) is not None:
            arguments[key] = plan[key]


def context_arguments(chain: SkillChain, **inputs: Any) -> KernelArguments:
    """KernelArguments with the chain's context variables (camelCase, as in the spec) and inputs."""
    # None values stay out: Semantic Kernel turns None into the string "None" for a str parameter.
    arguments = KernelArguments(**chain.context.to_wire())
    for key, value in inputs.items():
        if value is not None:
            arguments[key] = value
    return arguments


async def execute_chain(
    kernel: Kernel,
    chain: SkillChain,
    arguments: KernelArguments,
    *,
    retry_cooldown: float | None = None,
    retry_budget: float | None = None,
) -> KernelArguments:
    """Run the chain, looping for retries. ``retry_cooldown`` replaces the strategies' cool-down (seconds);
    ``retry_budget`` bounds the retry phase, cool-downs included (default: as long as the first attempt)."""
    attempt_steps = [s for s in chain.steps if s not in (PUBLISH, PUSH)]
    final_steps = [s for s in chain.steps if s in (PUBLISH, PUSH)]
    ledger = AttemptLedger()
    clock = RetryClock(budget_s=retry_budget, cooldown_s=retry_cooldown)
    while True:
        clock.attempt_starts()
        for step in attempt_steps:
            if step is RETRY_CHECK:
                arguments["retryBudget"] = clock.budget()
                arguments["retriedFor"] = ledger.retried_for()
            value = await invoke_step(kernel, step, arguments)
            if step is INTERPRET:
                _adopt_scope(arguments, value)
        clock.attempt_ends()
        attempt = int(arguments.get("retryAttempt") or 0)
        decision: dict[str, Any] = arguments.get("retryDecision") or {}
        retrying = bool(decision.get("retry")) and attempt < chain.max_retries
        if retrying:
            decision["cooldownSeconds"] = clock.cooldown(decision)  # recorded as actually paused
        ledger.record(attempt, arguments["perfMetrics"], decision)
        if not retrying:
            break
        if decision["cooldownSeconds"] > 0:
            await asyncio.sleep(decision["cooldownSeconds"])
        arguments["retryAttempt"] = attempt + 1
        arguments["retryTests"] = decision.get("tests", [])
        arguments["retryAdjustments"] = decision.get("adjustments", {})
        arguments["previousScore"] = decision.get("previousScore")
        arguments.pop("retryDecision", None)
    arguments["perfMetrics"] = ledger.merged(max_retries=chain.max_retries)
    arguments["attempts"] = ledger.history()
    for step in final_steps:
        await invoke_step(kernel, step, arguments)
    return arguments
