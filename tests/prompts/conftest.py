"""A deterministic in-process chat service that records every prompt it is sent, and suites built from
known figures."""

from __future__ import annotations

import pytest
from pydantic import Field
from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase
from semantic_kernel.connectors.ai.prompt_execution_settings import PromptExecutionSettings
from semantic_kernel.contents import AuthorRole, ChatHistory, ChatMessageContent

from sk_loadagent.models.metrics import PerfMetrics

CANNED = "The checkout p95 rose 23% against the baseline; check the slow release first."
CHAT_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_CHAT_MODEL_ID",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_CHAT_DEPLOYMENT_NAME",
)


class FakeChat(ChatCompletionClientBase):
    """Answers every prompt with ``reply`` (or raises ``failure``) and keeps the rendered messages."""

    prompts: list[list[tuple[str, str]]] = Field(default_factory=list)
    reply: str = CANNED
    failure: str | None = None

    async def _inner_get_chat_message_contents(
        self, chat_history: ChatHistory, settings: PromptExecutionSettings
    ) -> list[ChatMessageContent]:
        self.prompts.append([(str(m.role.value), str(m.content)) for m in chat_history.messages])
        if self.failure is not None:
            raise RuntimeError(self.failure)
        return [ChatMessageContent(role=AuthorRole.ASSISTANT, content=self.reply)]


@pytest.fixture
def suite() -> PerfMetrics:
    """A degraded two-test suite: a load test that regressed against its baseline, and a stress test."""
    return PerfMetrics.model_validate(
        {
            "traceId": "proj-77",
            "moduleId": "CheckoutService",
            "editionId": "vetclinic",
            "status": "degraded",
            "performanceScore": 0.6123,
            "tests": [
                {
                    "testName": "checkout load",
                    "testType": "load",
                    "endpoint": "/checkout/submit",
                    "status": "degraded",
                    "performanceScore": 0.6123,
                    "rps": 49.876,
                    "errorRate": 0.0125,
                    "latency": {"p50": 41.004, "p95": 123.456, "p99": 187.5, "max": 250.0},
                    "baselineComparison": {
                        "p95LatencyBaseline": 100.4,
                        "deltaLatencyP95": "+23%",
                        "deltaLatencyP95Interval": {"low": "+15%", "high": "+31%", "level": 0.95},
                        "confidence": 0.9871,
                        "regressed": True,
                    },
                    "violations": [
                        {
                            "metric": "latencyP95",
                            "limit": 100,
                            "observed": 123.456,
                            "severity": "significant",
                            "source": "perf-thresholds.yaml",
                            "message": "p95 123.46 ms > limit 100 ms",
                        }
                    ],
                    "reasons": ["p95 regressed +23% against the baseline"],
                },
                {
                    "testName": "checkout stress",
                    "testType": "stress",
                    "endpoint": "/checkout/submit",
                    "status": "pass",
                    "performanceScore": 0.9,
                    "excludedFromGate": True,
                    "stress": {
                        "steps": [],
                        "breakingPointRps": 180.0,
                        "firstFailedRps": 200.0,
                        "failureMode": "latency",
                    },
                },
            ],
        }
    )


@pytest.fixture
def fake_chat() -> FakeChat:
    return FakeChat(ai_model_id="fake-model")


@pytest.fixture
def no_chat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose user configured no chat service."""
    for name in CHAT_ENV:
        monkeypatch.delenv(name, raising=False)
