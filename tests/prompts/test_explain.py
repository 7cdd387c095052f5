"""explain_run on a kernel: the prompt function from the package's prompt directory, rendered with the
run's digest and sent to whatever chat service the kernel holds (here an in-process fake)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from semantic_kernel import Kernel

from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.prompts import (
    EXPLAIN_FUNCTION,
    NO_CHAT_SERVICE,
    PLUGIN_NAME,
    add_prompt_plugins,
    explain_run,
    explain_suite,
    run_digest,
)
from sk_loadagent.prompts.services import (
    NO_SERVICE_LINE,
    ChatServiceConfigError,
    chat_service_from_env,
)

# The in-process fake chat service of conftest.py (a fixture; conftest modules are not imported by name).
FakeChat = Any


def _kernel(service: FakeChat | None) -> Kernel:
    kernel = Kernel()
    if service is not None:
        kernel.add_service(service)
    return kernel


def test_the_prompt_directory_loads_as_one_plugin() -> None:
    kernel = Kernel()
    plugin = add_prompt_plugins(kernel)

    assert plugin.name == PLUGIN_NAME
    assert list(kernel.plugins[PLUGIN_NAME].functions) == [EXPLAIN_FUNCTION]
    function = kernel.get_function(PLUGIN_NAME, EXPLAIN_FUNCTION)
    assert [p.name for p in function.parameters] == ["digest"]


async def test_the_rendered_prompt_holds_the_runs_own_numbers(
    suite: PerfMetrics, fake_chat: FakeChat
) -> None:
    text = await explain_run(_kernel(fake_chat), suite)

    assert text == fake_chat.reply
    ((system_role, system), (user_role, user)) = fake_chat.prompts[0]
    assert (system_role, user_role) == ("system", "user")
    assert "Use only the numbers" in system
    assert "3 to 5 sentences" in system
    # The digest arrives intact (SK escapes it for the message markup and unescapes it again).
    digest = json.loads(user[user.index("{") :])
    assert digest == run_digest(suite)
    for figure in (
        '"p95":123.46',
        '"p95Delta":"+23%"',
        '"low":"+15%"',
        '"high":"+31%"',
        '"confidence":0.987',
    ):
        assert figure in user


async def test_without_a_chat_service_there_is_no_explanation_and_the_reason(suite: PerfMetrics) -> None:
    assert await explain_run(_kernel(None), suite) is None
    explained = await explain_suite(_kernel(None), suite)
    assert (explained.text, explained.reason) == (None, NO_CHAT_SERVICE)


async def test_a_failing_service_gives_no_explanation_and_says_why(
    suite: PerfMetrics, fake_chat: FakeChat
) -> None:
    fake_chat.failure = "429 rate limited"

    explained = await explain_suite(_kernel(fake_chat), suite)

    assert explained.text is None
    assert explained.reason == "the chat service failed: 429 rate limited"


async def test_an_empty_answer_is_no_explanation(suite: PerfMetrics, fake_chat: FakeChat) -> None:
    fake_chat.reply = "  \n"

    explained = await explain_suite(_kernel(fake_chat), suite)

    assert (explained.text, explained.reason) == (None, "the chat service returned no text")


def test_no_variables_means_no_service() -> None:
    assert chat_service_from_env({"OPENAI_API_KEY": "sk-test"}) is None
    assert NO_SERVICE_LINE.startswith("--explain needs a chat service: set OPENAI_API_KEY and ")


def test_openai_variables_create_the_openai_connector_without_calling_it() -> None:
    from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion

    service = chat_service_from_env({"OPENAI_API_KEY": "sk-test", "OPENAI_CHAT_MODEL_ID": "gpt-test"})

    assert isinstance(service, OpenAIChatCompletion)
    assert service.ai_model_id == "gpt-test"


def test_azure_variables_win_and_a_bad_endpoint_is_a_config_error() -> None:
    from semantic_kernel.connectors.ai.open_ai import AzureChatCompletion

    azure = {
        "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
        "AZURE_OPENAI_API_KEY": "key",
        "AZURE_OPENAI_CHAT_DEPLOYMENT_NAME": "chat",
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_CHAT_MODEL_ID": "gpt-test",
    }
    service = chat_service_from_env(azure)
    assert isinstance(service, AzureChatCompletion)
    assert service.ai_model_id == "chat"

    with pytest.raises(ChatServiceConfigError, match="cannot create the chat service"):
        chat_service_from_env({**azure, "AZURE_OPENAI_ENDPOINT": "http://not-https.example"})
