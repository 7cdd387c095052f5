"""The chat service a user configured through the standard OpenAI or Azure OpenAI environment variables.

The connectors (and the openai package) are imported only when their variables are set, so a run without
an LLM never loads them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase
from semantic_kernel.exceptions import ServiceInitializationError

OPENAI_VARS = ("OPENAI_API_KEY", "OPENAI_CHAT_MODEL_ID")
AZURE_VARS = ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_CHAT_DEPLOYMENT_NAME")
NO_SERVICE_LINE = (
    "--explain needs a chat service: set OPENAI_API_KEY and OPENAI_CHAT_MODEL_ID, or AZURE_OPENAI_ENDPOINT, "
    "AZURE_OPENAI_API_KEY and AZURE_OPENAI_CHAT_DEPLOYMENT_NAME"
)


class ChatServiceConfigError(ValueError):
    """The variables are set but the connector refused them (e.g. an endpoint that is not https)."""


def _all_set(environ: Mapping[str, str], names: tuple[str, ...]) -> bool:
    return all(environ.get(name, "").strip() for name in names)


def chat_service_from_env(environ: Mapping[str, str] | None = None) -> ChatCompletionClientBase | None:
    """Azure OpenAI when its three variables are set, else OpenAI when its two are, else None.

    The connectors read the process environment themselves (and optional ones such as OPENAI_ORG_ID or
    AZURE_OPENAI_API_VERSION); ``environ`` only decides which one to create.
    """
    env = os.environ if environ is None else environ
    try:
        if _all_set(env, AZURE_VARS):
            from semantic_kernel.connectors.ai.open_ai import AzureChatCompletion

            return AzureChatCompletion(
                deployment_name=env["AZURE_OPENAI_CHAT_DEPLOYMENT_NAME"],
                endpoint=env["AZURE_OPENAI_ENDPOINT"],
                api_key=env["AZURE_OPENAI_API_KEY"],
            )
        if _all_set(env, OPENAI_VARS):
            from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion

            return OpenAIChatCompletion(
                ai_model_id=env["OPENAI_CHAT_MODEL_ID"], api_key=env["OPENAI_API_KEY"]
            )
    except ServiceInitializationError as exc:
        raise ChatServiceConfigError(f"cannot create the chat service: {exc}") from exc
    return None
