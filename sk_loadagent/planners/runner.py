"""Executes a SkillChain over KernelArguments, looping back for retries through the context variables.

The loop is visible here rather than hidden in a skill: after ``recommend_retry`` says so, the runner raises
``retryAttempt``, names the tests to retry and their adjustments in the arguments, and runs interpret →
evaluate again; the interpreter and the executor read those variables. Publish and push run once, on the
merged outcome of all attempts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from semantic_kernel import Kernel
from semantic_kernel.functions import KernelArguments

from sk_loadagent.planners.chain import INTERPRET, PUBLISH, PUSH, PlanStep, SkillChain
from sk_loadagent.suite.retries import AttemptLedger


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
    kernel: Kernel, chain: SkillChain, arguments: KernelArguments, *, cooldown_cap: float | None = None
) -> KernelArguments:
    attempt_steps = [s for s in chain.steps if s not in (PUBLISH, PUSH)]
    final_steps = [s for s in chain.steps if s in (PUBLISH, PUSH)]
    ledger = AttemptLedger()
    while True:
        for step in attempt_steps:
            value = await invoke_step(kernel, step, arguments)
            if step is INTERPRET:
                _adopt_scope(arguments, value)
        attempt = int(arguments.get("retryAttempt") or 0)
        decision: dict[str, Any] = arguments.get("retryDecision") or {}
        ledger.record(attempt, arguments["perfMetrics"], decision)
        if not decision.get("retry") or attempt >= chain.max_retries:
            break
        cooldown = float(decision.get("cooldownSeconds", 0.0))
        if cooldown_cap is not None:
            cooldown = min(cooldown, cooldown_cap)
        if cooldown > 0:
            await asyncio.sleep(cooldown)
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
