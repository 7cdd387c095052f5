"""The two ways a flow runs give the same results: a flow whose steps are all HTTP on the fast client runs on
callbacks, any other on a task per iteration. Each test runs one flow both ways against the same server and
compares what each recorded (iterations and steps by class, checks, what the server was sent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from journey_server import LOGIN as JOURNEY_LOGIN
from journey_server import SUBMIT, JourneyServer
from tls_support import HttpsServer, Pki

from sk_loadagent.engine import LoadProfile, RunOptions, RunResult, _runner, _worker, build_profile, run_load
from sk_loadagent.engine._flow import CompiledFlow, FlowPlan, compile_flow
from sk_loadagent.engine._flow_fast import Carrier, HttpCarrier, carrier_for
from sk_loadagent.engine._trace import TraceContext
from sk_loadagent.engine.clients._http import HttpClients
from sk_loadagent.engine.result import OUTCOME_NAMES
from sk_loadagent.errors import TargetUnreachableError
from sk_loadagent.models.flow import StepSpec
from sk_loadagent.models.plan import TestSpec

# The journey's login, extracting a JSON value, a header and a regex match.
LOGIN = {
    **JOURNEY_LOGIN,
    "extract": {"token": "$.token", "kind": "header:Content-Type", "who": 'regex:"user": "([^"]+)"'},
}


def _test(flow: list[dict[str, Any]], data: Path | None, **shape: Any) -> TestSpec:
    document: dict[str, Any] = {"name": "paths", "type": "load", "rps": 20, "duration": "1s", "rampUp": "0s"}
    document.update(shape)
    document["flow"] = flow
    if data is not None:
        document["data"] = {"file": str(data), "mode": "sequential"}
    return TestSpec.model_validate(document)


PATHS = ("callbacks", "tasks")


async def _no_preflight(profile: object) -> None:
    """The run's own connects meet the target (the check before the run would stop it)."""


def _classes(outcomes: np.ndarray) -> dict[str, int]:
    codes, counts = np.unique(outcomes, return_counts=True)
    return {OUTCOME_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}


def _summary(result: RunResult) -> dict[str, Any]:
    """What a run recorded, without its times: iterations and each step's calls by class, and its checks."""
    steps = []
    for step in result.steps:
        checks: dict[str, list[int]] = {}
        for tally in step.phases:
            for name, (passed, failed) in tally.checks.items():
                counts = checks.setdefault(name, [0, 0])
                counts[0] += passed
                counts[1] += failed
        steps.append({"name": step.name, "classes": _classes(step.samples.outcome), "checks": checks})
    # A late start is the machine's doing (a busy test run), not the flow's.
    warnings = [w for w in result.warnings if "after their intended time" not in w]
    return {"iterations": _classes(result.samples.outcome), "steps": steps, "warnings": warnings}


def _sent(journey: JourneyServer) -> Counter[tuple[str, str, str]]:
    """What the server was sent: each request's route, body and the headers that carry extracted values."""
    seen = Counter(
        (seen.path.split("?")[0], seen.body.decode(), seen.headers.get("authorization", "") + "|" + who)
        for seen in journey.seen
        for who in [seen.headers.get("x-who", "")]
    )
    journey.seen.clear()
    return seen


async def _run_on(path: str, monkeypatch: pytest.MonkeyPatch, profile: LoadProfile) -> RunResult:
    """One run in this process on ``callbacks`` (the engine's own choice for these flows) or on ``tasks``."""
    chosen: list[bool] = []

    def choose(flow: CompiledFlow, http: HttpClients, hub: object | None) -> Carrier | None:
        carrier = carrier_for(flow, http, hub)
        chosen.append(isinstance(carrier, HttpCarrier))
        return carrier if path == "callbacks" else None

    with monkeypatch.context() as patch:
        patch.setattr(_worker, "carrier_for", choose)
        result = await run_load(profile, RunOptions(workers=0))
    assert chosen == [True]
    return result


async def _both(
    journey: JourneyServer,
    monkeypatch: pytest.MonkeyPatch,
    test: TestSpec,
    *,
    same_requests: bool = True,
) -> tuple[RunResult, RunResult]:
    """The test on callbacks, then on tasks (each from a fresh profile); ``same_requests``: the server was
    sent the same requests both times (not so where timing decides what is sent)."""
    journey.seen.clear()
    on_callbacks = await _run_on("callbacks", monkeypatch, build_profile(test, base_url=journey.url))
    sent = _sent(journey)
    on_tasks = await _run_on("tasks", monkeypatch, build_profile(test, base_url=journey.url))
    if same_requests:
        assert _sent(journey) == sent
    return on_callbacks, on_tasks


async def test_checks_extractions_and_stops_come_out_the_same(
    journey: JourneyServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    users = tmp_path / "users.csv"  # every fourth user's password is wrong: 401, and the iteration stops
    rows = [f"u{i},{'wrong' if i % 4 == 3 else f'pw-u{i}'}\n" for i in range(20)]
    users.write_text("user,password\n" + "".join(rows), encoding="utf-8")
    add = {
        "name": "add-item",
        "request": {
            "method": "POST",
            "path": "/cart/items",
            "headers": {"Authorization": "Bearer ${token}", "X-Who": "${who}"},
            "json": {"sku": "${data.user}"},
        },
        "check": {"status": 201, "$.items[0].sku": "u0", "$.items": {"length": 1}},
        "onFail": "continue",
    }
    missing = {
        "name": "missing",
        "request": {"path": "/echo/${iteration}?vu=${vu}", "headers": {"X-Kind": "${kind}"}},
        "extract": {"nothing": "$.absent"},
        "check": {"bodyContains": "x-kind"},
        "onFail": "continue",
    }
    after = {"name": "after", "request": {"path": "/echo/after", "headers": {"X-Who": "${nothing}"}}}
    flow = [LOGIN, add, missing, {**after, "onFail": "continue"}, SUBMIT]
    on_callbacks, on_tasks = await _both(journey, monkeypatch, _test(flow, users))
    assert _summary(on_callbacks) == _summary(on_tasks)
    summary = _summary(on_callbacks)
    assert summary["iterations"] == {"http4xx": 5, "check": 14, "extract": 1}  # u0's sku passes its check
    assert [s["classes"] for s in summary["steps"]] == [
        {"ok": 15, "http4xx": 5},
        {"ok": 1, "check": 14},
        {"extract": 15},
        {"extract": 15},
        {"ok": 15},
    ]


async def test_timeouts_resets_and_closed_connections_come_out_the_same(
    journey: JourneyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    journey.closing.add("/echo/closing")
    journey.dropping.add("/echo/dropped")
    journey.delays["/echo/slow"] = 1.0
    flow = [
        {"name": "closing", "request": {"path": "/echo/closing"}, "check": {"status": 200}},
        {"name": "dropped", "request": {"path": "/echo/dropped"}, "onFail": "continue"},
        {"name": "slow", "request": {"path": "/echo/slow"}, "onFail": "continue"},
        {"name": "last", "request": {"path": "/echo/last"}, "check": {"status": 200}},
    ]
    test = _test(flow, None, rps=10, timeout="400ms")  # long enough for a busy machine's other steps
    on_callbacks, on_tasks = await _both(journey, monkeypatch, test)
    assert _summary(on_callbacks) == _summary(on_tasks)
    assert [s["classes"] for s in _summary(on_callbacks)["steps"]] == [
        {"ok": 10},
        {"reset": 10},
        {"timeout": 10},
        {"ok": 10},
    ]
    for result in (on_callbacks, on_tasks):
        # Every step after a closed, reset or timed-out connection needed a new one.
        assert result.generator.connections_opened >= 30
        slow = result.steps[2].samples
        assert np.all(np.isnan(slow.latency))
        last = result.steps[3].samples
        assert float(np.min(last.start - slow.start)) >= 0.4  # due when the timed-out step ended


async def test_a_refusing_target_and_steps_that_wait_too_long_come_out_the_same(
    journey: JourneyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = [
        {"name": "only", "request": {"path": "/echo/x"}},
        {"name": "never", "request": {"path": "/echo/y"}},
    ]
    # Nothing listens: the run's own connects are refused (the check before the run would stop it sooner),
    # every iteration fails at its first step, and the run says so the same way.
    monkeypatch.setattr(_runner, "_preflight", _no_preflight)
    refusals = []
    for path in PATHS:
        profile = build_profile(_test(flow, None, rps=10), base_url="http://127.0.0.1:9")
        with pytest.raises(TargetUnreachableError) as caught:
            await _run_on(path, monkeypatch, profile)
        refusals.append(str(caught.value))
    assert (
        refusals
        == [
            "target http://127.0.0.1:9: no request got a response; all 10 attempts failed to connect "
            "(10 connectRefused)"
        ]
        * 2
    )

    # One connection, 100 ms per step, 20 iterations a second: steps queue for it, the later ones past the
    # 250 ms timeout while they wait, and each is timed from when it was due.
    journey.delays["/echo/x"] = 0.1
    test = _test(flow, None, maxConnections=1, timeout="250ms")
    waited = await _both(journey, monkeypatch, test, same_requests=False)
    for result in waited:
        classes = _summary(result)["steps"][0]["classes"]
        assert set(classes) == {"ok", "timeout"}
        assert 2 <= classes["ok"] <= 12
        only = result.steps[0].samples
        answered = np.isfinite(only.latency)
        assert float(np.max(only.latency[answered])) > 0.15  # waited for the connection, then 100 ms
        assert float(np.max(only.service[answered])) < 0.15


async def test_a_closed_model_with_think_times_comes_out_the_same(
    journey: JourneyServer, monkeypatch: pytest.MonkeyPatch, users_csv: Path
) -> None:
    login = {**LOGIN, "thinkTime": "30ms"}
    add = {
        "name": "add-item",
        "request": {"method": "POST", "path": "/cart/items", "headers": {"Authorization": "Bearer ${token}"}},
        "check": {"status": 201},
    }
    test = _test([login, add], users_csv, type="concurrency", vus=2, thinkTime="20ms").model_copy(
        update={"rps": None}
    )
    for result in await _both(journey, monkeypatch, test, same_requests=False):
        summary = _summary(result)
        iterations = summary["iterations"]["ok"]
        assert summary["iterations"] == {"ok": iterations}
        # Two VUs, each iteration at least 30 ms of think inside and 20 ms after: at most 40 in a second.
        assert 10 <= iterations <= 40
        assert [s["classes"] for s in summary["steps"]] == [{"ok": iterations}, {"ok": iterations}]
        assert float(np.median(result.samples.latency)) < 0.03  # the think time inside is not latency


async def test_sampled_iterations_share_a_trace_the_same_way(
    journey: JourneyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = [
        {"name": "first", "request": {"path": "/echo/a"}},
        {"name": "second", "request": {"path": "/echo/b"}},
    ]
    trace = TraceContext.for_test(0.25, "t", "paths")
    parents: list[list[str]] = []
    traced = []
    for path in PATHS:
        profile = build_profile(_test(flow, None), base_url=journey.url)
        result = await _run_on(path, monkeypatch, profile.model_copy(update={"trace": trace}))
        parents.append([s.headers["traceparent"] for s in journey.seen])
        journey.seen.clear()
        traced.append(result.traced)
    for seen, found in zip(parents, traced, strict=True):
        sampled = [p.split("-") for p in seen if p.endswith("-01")]
        assert len(sampled) == 10  # 5 of 20 iterations, both steps
        assert len({trace_id for _, trace_id, _, _ in sampled}) == 5
        assert len({span for _, _, span, _ in sampled}) == 10
        assert sorted(t for t, _, _ in found) == sorted({trace_id for _, trace_id, _, _ in sampled})


async def test_a_flow_over_https_comes_out_the_same(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    first = {"name": "first", "request": {"path": "/a"}, "extract": {"v": "regex:(o)k"}}
    second = {"name": "second", "request": {"path": "/b", "headers": {"X-V": "${v}"}}}
    flow = [{**first, "check": {"status": 200}}, {**second, "check": {"bodyContains": "ok"}}]
    test = _test(flow, None, tls={"caFile": str(pki.ca_file)})
    server = HttpsServer(pki.server_context())
    try:
        verified = [
            await _run_on(path, monkeypatch, build_profile(test, base_url=server.url)) for path in PATHS
        ]
    finally:
        server.stop()
    assert server.requests == 80
    for result in verified:
        assert _summary(result)["steps"] == [
            {"name": "first", "classes": {"ok": 20}, "checks": {"status 200": [20, 0]}},
            {"name": "second", "classes": {"ok": 20}, "checks": {"body contains 'ok'": [20, 0]}},
        ]
        assert result.generator.transport == "fast"
        assert 0 < result.generator.connections_opened < 20  # kept alive over TLS

    # A certificate out of date: every handshake fails, the same way on both (past the check before the run).
    monkeypatch.setattr(_runner, "_preflight", _no_preflight)
    server = HttpsServer(pki.server_context("expired"))
    refusals = []
    try:
        for path in PATHS:
            with pytest.raises(TargetUnreachableError) as caught:
                await _run_on(path, monkeypatch, build_profile(test, base_url=server.url))
            refusals.append(str(caught.value).replace(server.url, "URL"))
    finally:
        server.stop()
    assert refusals[0] == refusals[1]
    assert refusals[0] == (
        "target URL: no request got a response; all 20 attempts failed the TLS handshake: certificate verify "
        "failed: certificate has expired — renew the server's certificate, or pass --insecure"
    )


def test_only_flows_of_http_steps_on_the_fast_client_run_on_callbacks() -> None:
    http = StepSpec.model_validate({"request": {"path": "/a"}})
    mine = StepSpec.model_validate({"surface": "flow_clients:EchoClient"})
    fast = HttpClients("fast", url="http://127.0.0.1:9", timeout=1.0, tls=None)
    httpx = HttpClients("httpx", url="http://127.0.0.1:9", timeout=1.0, tls=None)
    assert isinstance(carrier_for(compile_flow(FlowPlan(steps=(http, http))), fast, None), HttpCarrier)
    assert carrier_for(compile_flow(FlowPlan(steps=(http, http))), httpx, None) is None
    assert carrier_for(compile_flow(FlowPlan(steps=(http, mine))), fast, None) is None
