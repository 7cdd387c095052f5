"""An LLM-written explanation of a finished run, from a digest of the run's own figures.

The prompt lives next to this module as SK prompt-function files (``explain_run/skprompt.txt`` and
``config.json``). Its config sets no execution settings on purpose: every chat model accepts the service's
defaults, while a temperature or token limit is refused by some of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semantic_kernel import Kernel
from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase
from semantic_kernel.exceptions import KernelException
from semantic_kernel.functions import KernelArguments, KernelFunctionFromPrompt, KernelPlugin

from sk_loadagent.errors import root_cause
from sk_loadagent.models.metrics import PerfMetrics, StepMetrics
from sk_loadagent.secrets import mask_data

PLUGIN_NAME = "LoadAgentPrompts"
EXPLAIN_FUNCTION = "explain_run"
PROMPTS_DIR = Path(__file__).parent
NO_CHAT_SERVICE = "the kernel has no chat completion service"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Explanation:
    """The explanation, or why there is none."""

    text: str | None
    reason: str | None = None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    # Absent figures are left out, so the model cannot mistake a null for a measured zero.
    return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


def _latency(test: PerfMetrics) -> dict[str, Any] | None:
    lat = test.latency
    if lat is None:
        return None
    return _compact({"p50": _round(lat.p50, 2), "p95": _round(lat.p95, 2), "p99": _round(lat.p99, 2)}) or None


def _baseline(test: PerfMetrics) -> dict[str, Any] | None:
    c = test.baseline_comparison
    if c is None:
        return None
    if c.exploratory or c.p95_latency_baseline is None:
        return {"exploratory": True}
    interval = c.delta_latency_p95_interval
    return _compact(
        {
            "p95BaselineMs": _round(c.p95_latency_baseline, 2),
            "p95Delta": c.delta_latency_p95,
            "p95DeltaInterval": (
                {"low": interval.low, "high": interval.high, "level": interval.level} if interval else None
            ),
            "confidence": _round(c.confidence, 3),
            "regressed": c.regressed,
            "baselineScore": _round(c.baseline_score, 2),
        }
    )


def _findings(test: PerfMetrics) -> dict[str, Any]:
    """Spike, soak and stress results, each only when that test type produced one."""
    found: dict[str, Any] = {}
    if test.spike is not None:
        s = test.spike
        found["spike"] = _compact(
            {
                "baselineRps": _round(s.baseline_rps, 1),
                "peakRps": _round(s.peak_rps, 1),
                "baselineLatencyMs": _round(s.baseline_latency_ms, 2),
                "spikeLatencyMs": _round(s.spike_latency_ms, 2),
                "recoveryTimeMs": _round(s.recovery_time_ms, 1),
                "recovered": s.recovered,
            }
        )
    if test.soak is not None:
        k = test.soak
        found["soak"] = _compact(
            {
                "latencySlopeMsPerMin": _round(k.latency_slope_ms_per_min, 3),
                "memorySlopeMbPerMin": _round(k.memory_slope_mb_per_min, 3),
                "degrading": k.degrading,
                "verdict": k.verdict,
            }
        )
    if test.stress is not None:
        t = test.stress
        found["stress"] = _compact(
            {
                "breakingPointRps": _round(t.breaking_point_rps, 1),
                "firstFailedRps": _round(t.first_failed_rps, 1),
                "failureMode": t.failure_mode,
                "designLimitRps": _round(t.design_limit_rps, 1),
            }
        )
    return found


def _test_digest(test: PerfMetrics) -> dict[str, Any]:
    resources = test.resources
    return _compact(
        {
            "name": test.test_name or f"{test.test_type} {test.endpoint}",
            "type": test.test_type,
            "endpoint": test.endpoint,
            "status": test.status,
            "score": _round(test.performance_score, 2),
            "notGated": True if test.excluded_from_gate else None,
            "latencyMs": _latency(test),
            "rps": _round(test.rps, 1),
            "targetRps": _round(test.target_rps, 1),
            "errorRatePct": _round(test.error_rate * 100, 2) if test.error_rate is not None else None,
            "requests": test.requests,
            "baseline": _baseline(test),
            "violations": [v.message for v in test.violations or []],
            "reasons": list(test.reasons or []),
            "warnings": list(test.warnings or []),
            "cpuPeakPct": _round(resources.cpu_peak_pct, 1) if resources else None,
            "memorySlopeMbPerMin": _round(resources.memory_slope_mb_per_min, 3) if resources else None,
            "generatorSaturated": True if test.generator and test.generator.saturated else None,
            "retry": (
                _compact({"attempt": test.retry.retry_attempt, "outcome": test.retry.outcome})
                if test.retry
                else None
            ),
            **_findings(test),
            "steps": [_step_digest(s) for s in test.steps] if test.steps else None,
        }
    )


def _step_digest(step: StepMetrics) -> dict[str, Any]:
    return _compact(
        {
            "name": step.name,
            "target": step.target,
            "p95Ms": _round(step.latency.p95, 2) if step.latency else None,
            "errorRatePct": _round(step.error_rate * 100, 2) if step.error_rate is not None else None,
            "p95VsBaseline": step.baseline.delta if step.baseline else None,
            "checksFailed": sum(c.failed for c in step.checks or []) or None,
        }
    )


def run_digest(suite: PerfMetrics) -> dict[str, Any]:
    """The figures the explanation may use, rounded as the summary table prints them (secrets masked: the
    digest is sent to a chat service)."""
    return mask_data(_digest(suite))


def _digest(suite: PerfMetrics) -> dict[str, Any]:
    return _compact(
        {
            "traceId": suite.trace_id,
            "moduleId": suite.module_id,
            "editionId": suite.edition_id,
            "status": suite.status,
            "score": _round(suite.performance_score, 2),
            "tests": [_test_digest(t) for t in suite.tests or [suite]],
        }
    )


def add_prompt_plugins(kernel: Kernel) -> KernelPlugin:
    """Register every prompt directory here (one holding ``skprompt.txt``) as a function of one plugin."""
    functions = [
        KernelFunctionFromPrompt.from_directory(str(directory), plugin_name=PLUGIN_NAME)
        for directory in sorted(PROMPTS_DIR.iterdir())
        if (directory / "skprompt.txt").is_file()
    ]
    plugin = KernelPlugin(
        name=PLUGIN_NAME, description="LLM-written views of a load-agent run", functions=functions
    )
    kernel.add_plugin(plugin)
    return plugin


def has_chat_service(kernel: Kernel) -> bool:
    return bool(kernel.get_services_by_type(ChatCompletionClientBase))


async def explain_suite(kernel: Kernel, suite: PerfMetrics, *, timeout_s: float = 120.0) -> Explanation:
    """Ask the kernel's chat service to explain the run. A missing or failing service gives no text and
    the reason: the explanation is optional and never changes the run's outcome."""
    if not has_chat_service(kernel):
        logger.info("no run explanation: %s", NO_CHAT_SERVICE)
        return Explanation(None, NO_CHAT_SERVICE)
    if PLUGIN_NAME not in kernel.plugins:
        add_prompt_plugins(kernel)
    arguments = KernelArguments(
        digest=json.dumps(run_digest(suite), separators=(",", ":"), ensure_ascii=False),
        traceId=suite.trace_id,
    )
    try:
        result = await asyncio.wait_for(
            kernel.invoke(plugin_name=PLUGIN_NAME, function_name=EXPLAIN_FUNCTION, arguments=arguments),
            timeout=timeout_s,
        )
    except TimeoutError:
        reason = f"the chat service did not answer within {timeout_s:g} s"
    except KernelException as exc:
        reason = f"the chat service failed: {root_cause(exc)}"
    else:
        text = str(result).strip() if result is not None else ""
        if text:
            return Explanation(text)
        reason = "the chat service returned no text"
    logger.warning("no run explanation: %s", reason)
    return Explanation(None, reason)


async def explain_run(kernel: Kernel, suite: PerfMetrics) -> str | None:
    """The explanation text, or None when the kernel has no chat service or the service failed (logged)."""
    return (await explain_suite(kernel, suite)).text
