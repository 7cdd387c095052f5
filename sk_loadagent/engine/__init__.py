"""The load engine: turn a plan test into a load profile, generate it exactly, measure every request.

    profile = build_profile(test, base_url="http://127.0.0.1:8080")
    print(profile.describe())
    result = await run_load(profile, RunOptions(workers=2))     # one schedule
    result = await run_profile(profile, RunOptions(workers=2))  # a test: stress also probes its capacity

Open-model tests start every request at its intended time and time it from then (no coordinated omission);
closed-model tests (``concurrency``) loop virtual users. Requests go through the fast HTTP/1.1 transport
(httptools on uvloop, plain or TLS) or httpx (HTTP/2, proxies); ``MockTransport`` fakes a target for tests.
Worker processes are spawned without importing the rest of the agent.
"""

from sk_loadagent.engine._build import build_profile
from sk_loadagent.engine._capacity import run_profile
from sk_loadagent.engine._caps import machine_caps
from sk_loadagent.engine._options import Progress, RunOptions
from sk_loadagent.engine._placement import Placement
from sk_loadagent.engine._profile import LoadProfile, StressRule
from sk_loadagent.engine._proxy import redact as redact_proxy
from sk_loadagent.engine._runner import RunBound, run_bound, run_load
from sk_loadagent.engine._safety import allow_listed, check_target, is_loopback, loopback_address
from sk_loadagent.engine._tls import TlsOptionError
from sk_loadagent.engine._tls import check_options as check_tls_options
from sk_loadagent.engine._transports.mock import MockReply, MockTransport
from sk_loadagent.engine.result import GeneratorReport, NodeReport, Outcome, Phase, RunResult, Samples, Window

__all__ = [
    "GeneratorReport",
    "LoadProfile",
    "MockReply",
    "MockTransport",
    "NodeReport",
    "Outcome",
    "Phase",
    "Placement",
    "Progress",
    "RunBound",
    "RunOptions",
    "RunResult",
    "Samples",
    "StressRule",
    "TlsOptionError",
    "Window",
    "allow_listed",
    "build_profile",
    "check_target",
    "check_tls_options",
    "is_loopback",
    "loopback_address",
    "machine_caps",
    "redact_proxy",
    "run_bound",
    "run_load",
    "run_profile",
]
