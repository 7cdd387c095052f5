"""LLM-backed, optional views of a run (Semantic Kernel prompt functions). Nothing here runs without a chat
service, and nothing outside the kernel side (skills, planners, CLI) imports it."""

from sk_loadagent.prompts.explain import (
    EXPLAIN_FUNCTION,
    NO_CHAT_SERVICE,
    PLUGIN_NAME,
    Explanation,
    add_prompt_plugins,
    explain_run,
    explain_suite,
    has_chat_service,
    run_digest,
)
from sk_loadagent.prompts.services import NO_SERVICE_LINE, ChatServiceConfigError, chat_service_from_env

__all__ = [
    "EXPLAIN_FUNCTION",
    "NO_CHAT_SERVICE",
    "NO_SERVICE_LINE",
    "PLUGIN_NAME",
    "ChatServiceConfigError",
    "Explanation",
    "add_prompt_plugins",
    "chat_service_from_env",
    "explain_run",
    "explain_suite",
    "has_chat_service",
    "run_digest",
]
