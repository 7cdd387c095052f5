"""Who may widen the allow-list: the host (run options, the request, the plan file it hands to run_suite),
never a plan that reaches the load runner as an argument (a caller's or a model's execution plan).

192.0.2.10 is TEST-NET-1: an address literal, so nothing is resolved, and the mock transport sends nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from semantic_kernel import Kernel
from semantic_kernel.exceptions import KernelInvokeException
from semantic_kernel.functions import KernelArguments

from sk_loadagent.engine import MockReply, MockTransport, RunOptions
from sk_loadagent.errors import TargetNotAllowedError, root_cause
from sk_loadagent.models.context import RunContext
from sk_loadagent.planners.agent import SuiteRequest, run_suite
from sk_loadagent.skills import LoadRunnerExecutor
from sk_loadagent.suite.execution_plan import interpret
from sk_loadagent.suite.inputs import load_inputs

OUTSIDE = "http://192.0.2.10:9"
PLAN: dict[str, Any] = {
    "moduleId": "CheckoutService",
    "baseUrl": OUTSIDE,
    "allowHosts": ["192.0.2.10"],
    "endpoint": "/checkout/submit",
    "tests": [{"type": "load", "rps": 10, "duration": "300ms"}],
}


def mock_options() -> RunOptions:
    return RunOptions(workers=0, transport=MockTransport(MockReply(latency=0.001)), late_threshold_s=0.5)


async def test_an_execution_plan_passed_to_the_runner_cannot_allow_its_own_host() -> None:
    kernel = Kernel()
    kernel.add_plugin(LoadRunnerExecutor(mock_options()), plugin_name="LoadRunnerExecutor")
    # The plan's own allowHosts passed the interpreter; the runner honours only its options.
    forged = interpret(load_inputs(PLAN)).to_wire()
    assert forged["allowHosts"] == ["192.0.2.10"]

    with pytest.raises(KernelInvokeException) as caught:
        await kernel.invoke(
            plugin_name="LoadRunnerExecutor",
            function_name="run_load_tests",
            arguments=KernelArguments(executionPlan=forged),
        )

    refusal = root_cause(caught.value)
    assert isinstance(refusal, TargetNotAllowedError)
    assert str(refusal) == (
        f"target {OUTSIDE}/checkout/submit: host: expected a loopback host (127.0.0.1, ::1, localhost), got "
        "192.0.2.10; to load a non-loopback host, list it under allowHosts in the plan or pass --allow-host "
        "192.0.2.10"
    )


async def test_the_plan_the_host_hands_to_run_suite_may_allow_its_host(tmp_path: Path) -> None:
    outcome = await run_suite(
        SuiteRequest(plan=PLAN),
        RunContext(),
        store=None,
        out_dir=tmp_path / "out",
        options=mock_options(),
        max_retries=0,
    )

    assert outcome.metrics.tests is not None
    assert outcome.metrics.tests[0].requests == 3
