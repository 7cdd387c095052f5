"""The target's process is sampled for every host the loopback rule calls local, and never for a remote one.

The load comes from the mock transport (no requests reach a socket); this test process stands in for the
target by listening on the target's port, so the sampler must find this process's pid."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from sk_loadagent.engine import MockReply, MockTransport, RunOptions
from sk_loadagent.suite.execute import find_listener_pid, run_tests
from sk_loadagent.suite.execution_plan import interpret
from sk_loadagent.suite.inputs import load_inputs


@pytest.fixture
def listener() -> Iterator[int]:
    """A port this process listens on (bound to 127.0.0.2; the pid is found by the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.2", 0))
        server.listen()
        yield server.getsockname()[1]


def plan(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "traceId": "sampling",
        "moduleId": "CheckoutService",
        "baseUrl": base_url,
        "endpoint": "/checkout/submit",
        "tests": [{"type": "load", "rps": 20, "duration": "600ms"}],
        **extra,
    }


@pytest.mark.parametrize("host", ["127.0.0.2", "localhost."])
async def test_a_target_on_any_loopback_spelling_is_sampled(host: str, listener: int) -> None:
    execution = interpret(load_inputs(plan(f"http://{host}:{listener}")))

    (run,) = await run_tests(execution, options=RunOptions(workers=0, transport=MockTransport(MockReply())))

    assert run.resources is not None
    assert run.resources.pid == os.getpid()
    assert len(run.resources) > 0


def test_a_remote_target_is_never_sampled_even_when_a_local_process_has_its_port(listener: int) -> None:
    assert find_listener_pid(f"http://127.0.0.2:{listener}/") == os.getpid()
    assert find_listener_pid(f"http://192.0.2.10:{listener}/") is None
