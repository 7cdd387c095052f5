"""The LLM planner: a Semantic Kernel ChatCompletionAgent that plans its own runs through the ``LoadAgent``
plugin (function choice Auto), inside the host's guard rails (``agent.guard``).

No model is needed for anything else: without a chat service the CLI falls back to the designer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from semantic_kernel import Kernel
from semantic_kernel.agents import ChatCompletionAgent
from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase
from semantic_kernel.connectors.ai.function_choice_behavior import FunctionChoiceBehavior
from semantic_kernel.contents import ChatMessageContent, FunctionCallContent, FunctionResultContent

from sk_loadagent.agent.guard import SessionGuard, guard_chat_kernel
from sk_loadagent.agent.plugin import PLUGIN_NAME, LoadAgentPlugin
from sk_loadagent.agent.session import AgentConfig, Session, SessionRun
from sk_loadagent.errors import AgentFailure, LoadAgentError, root_cause

INSTRUCTIONS = """\
You are the load and performance testing agent of a CI pipeline. You plan load tests, run them and judge
them with the LoadAgent tools:
- design_suite designs a plan for the configured service and returns its planId and tests;
- run_suite runs a plan and returns a runId with the run's status, score and figures;
- get_run, compare_runs, history and explain read results by runId or from memory.
Refer to plans and runs by their ids. Use only figures that tools returned; never invent one. A tool result
that starts with REFUSED is the host's decision: do not repeat that call. One that starts with ERROR names
the argument to fix. Finish with a short answer: each run's status and score, and what to do next.
"""


class AgentFailedError(AgentFailure):
    """The chat service failed, so the session could not finish (CLI exit code 4)."""


@dataclass
class ToolCall:
    """One tool call of the conversation and what it answered."""

    call_id: str
    name: str
    arguments: str
    result: str | None = None


@dataclass
class AgentReply:
    text: str
    calls: list[ToolCall] = field(default_factory=list)
    runs: list[SessionRun] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def build_agent(
    config: AgentConfig, service: ChatCompletionClientBase
) -> tuple[ChatCompletionAgent, Session, SessionGuard]:
    """An agent over a fresh session: the LoadAgent plugin and the guard filters on its own kernel."""
    session = Session(config)
    plugin = LoadAgentPlugin(session, chat_service=service)
    kernel = Kernel()
    kernel.add_plugin(plugin, plugin_name=PLUGIN_NAME)
    guard = SessionGuard(session, plugin)
    guard_chat_kernel(kernel, guard)
    agent = ChatCompletionAgent(
        service=service,
        kernel=kernel,
        name="LoadAgent",
        instructions=INSTRUCTIONS,
        # One request per call at most; the guard refuses the call past the cap and ends the conversation.
        function_choice_behavior=FunctionChoiceBehavior.Auto(
            maximum_auto_invoke_attempts=config.budget.calls + 1
        ),
    )
    return agent, session, guard


def _calls_of(message: ChatMessageContent, calls: list[ToolCall]) -> None:
    """Add the message's tool calls to ``calls``, and its tool results to the calls they answer."""
    for item in message.items:
        if isinstance(item, FunctionCallContent):
            arguments = item.arguments if isinstance(item.arguments, str) else json.dumps(item.arguments)
            calls.append(ToolCall(call_id=item.id or "", name=item.name or "", arguments=arguments or "{}"))
        elif isinstance(item, FunctionResultContent):
            answered = next((c for c in reversed(calls) if c.call_id == item.id and c.result is None), None)
            if answered is not None:
                answered.result = str(item.result)


async def run_agent(prompt: str, config: AgentConfig, service: ChatCompletionClientBase) -> AgentReply:
    """Let the model plan and run within the host's limits; the reply, each tool call and each run."""
    agent, session, guard = build_agent(config, service)
    calls: list[ToolCall] = []

    async def record(message: ChatMessageContent) -> None:
        _calls_of(message, calls)

    final: list[str] = []
    try:
        async for response in agent.invoke(messages=prompt, on_intermediate_message=record):
            _calls_of(response.message, calls)
            if response.message.content:
                final.append(str(response.message.content))
    except Exception as exc:
        # A tool's own failure reaches the model as its result (Semantic Kernel catches it): what escapes
        # here came from the chat service.
        cause = root_cause(exc)
        if isinstance(cause, LoadAgentError):
            raise cause from exc
        raise AgentFailedError(f"the chat service failed: {cause}") from exc
    text = final[-1] if final else ""
    if not text and guard.refusals:
        text = f"The session ended: {guard.refusals[-1]}"
    return AgentReply(text=text, calls=calls, runs=list(session.runs.values()), refusals=list(guard.refusals))


def describe_call(call: ToolCall, width: int = 160) -> str:
    """``LoadAgent-run_suite {"planId":"plan-1"} -> {"runId":"run-2",...}``, shortened to ``width``."""
    result = call.result or ""
    text = f"{call.name} {call.arguments} -> {result}"
    return text if len(text) <= width else text[: width - 3] + "..."
