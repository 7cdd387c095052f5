"""The process bridge: a user's own k6 script or locustfile generates the load, and its raw results are read
into the engine's ``RunResult``, so the judge, memory, artifacts and report apply unchanged.

    result = await run_script(BridgeRun("k6", Path("checkout.js"), "http://127.0.0.1:8080", duration=20))

k6's JSON output lines give every request's ``http_req_duration`` (exact percentiles); Locust gives only its
own aggregated, rounded response times (percentiles marked approximate). The target is checked against the
loopback / allow-list rule before the tool starts, and the tool itself is kept to it (k6's --blacklist-ip,
a resolver guard loaded into Locust). The tool is stopped at the run's bound.
"""

from sk_loadagent.bridge._run import STARTUP_GRACE_S, STOP_GRACE_S, BridgeRun, run_script

__all__ = ["STARTUP_GRACE_S", "STOP_GRACE_S", "BridgeRun", "run_script"]
