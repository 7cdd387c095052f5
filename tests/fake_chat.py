"""A deterministic chat service that plays a script of tool calls and answers, as a function-calling model
would, and records what it was sent (the messages, and the tools advertised to it). No network, no model."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field
from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase
from semantic_kernel.connectors.ai.function_calling_utils import (
    update_settings_from_function_call_configuration,
)
from semantic_kernel.connectors.ai.prompt_execution_settings import PromptExecutionSettings
from semantic_kernel.contents import AuthorRole, ChatHistory, ChatMessageContent, FunctionCallContent

_ids = itertools.count(1)


class ToolSettings(PromptExecutionSettings):
    """Settings that carry the advertised tools, as the OpenAI connector's do."""

    tools: list[dict[str, Any]] | None = None
    tool_choice: str | None = None


Step = ChatMessageContent | Callable[[ChatHistory], ChatMessageContent]


def call(name: str, **arguments: Any) -> ChatMessageContent:
    """An assistant turn that calls one tool (``LoadAgent-run_suite``) with JSON arguments."""
    return calls((name, arguments))


def calls(*wanted: tuple[str, dict[str, Any]]) -> ChatMessageContent:
    """An assistant turn that calls several tools at once."""
    items = [
        FunctionCallContent(id=f"call_{next(_ids)}", name=name, arguments=json.dumps(arguments))
        for name, arguments in wanted
    ]
    return ChatMessageContent(role=AuthorRole.ASSISTANT, items=items)


def say(text: str) -> ChatMessageContent:
    return ChatMessageContent(role=AuthorRole.ASSISTANT, content=text)


class ScriptedChat(ChatCompletionClientBase):
    """Answers request n with step n of ``script`` (a message, or a function of the history so far)."""

    SUPPORTS_FUNCTION_CALLING: ClassVar[bool] = True
    script: list[Any] = Field(default_factory=list)
    histories: list[list[ChatMessageContent]] = Field(default_factory=list)
    advertised: list[list[str]] = Field(default_factory=list)
    failure: str | None = None

    def __init__(self, script: list[Step], **kwargs: Any) -> None:
        super().__init__(ai_model_id="scripted", script=list(script), **kwargs)

    def get_prompt_execution_settings_class(self) -> type[PromptExecutionSettings]:
        return ToolSettings

    def _update_function_choice_settings_callback(self) -> Callable[..., None]:
        return update_settings_from_function_call_configuration

    async def _inner_get_chat_message_contents(
        self, chat_history: ChatHistory, settings: PromptExecutionSettings
    ) -> list[ChatMessageContent]:
        self.histories.append(list(chat_history.messages))
        tools = getattr(settings, "tools", None) or []
        self.advertised.append([t["function"]["name"] for t in tools])
        if self.failure is not None:
            raise RuntimeError(self.failure)
        if not self.script:
            return [say("(the script has ended)")]
        step = self.script.pop(0)
        return [step(chat_history) if callable(step) else step]

    def tool_results(self) -> list[str]:
        """Every tool result the service was shown, in order (from the last history it received)."""
        last = self.histories[-1] if self.histories else []
        return [str(item.result) for m in last if m.role == AuthorRole.TOOL for item in m.items]
