"""Flows on the engine: iterations on schedule, steps timed from the moment each was due, values passed on,
checks and extractions, data rows, users' clients, timeouts and the ways a flow fails. The HTTP flows run both
ways a flow can run in this process (``flow_path``: on callbacks, on tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from journey_server import ADD, LOGIN, SUBMIT, JourneyServer

from sk_loadagent.engine import RunOptions, RunResult, build_profile, run_load
from sk_loadagent.engine.result import OUTCOME_NAMES, Outcome
from sk_loadagent.errors import InputError
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.plan import TestSpec


def _test(flow: list[dict[str, Any]], users: Path | None, **shape: Any) -> TestSpec:
    document: dict[str, Any] = {
        "name": "checkout-flow",
        "type": "load",
        "rps": 40,
        "duration": "1s",
        "rampUp": "0s",
    }
    document.update(shape)
    document["flow"] = flow
    if users is not None:
        document.setdefault("data", {"file": str(users), "mode": "sequential"})
    return validate_document(document, TestSpec, "flow.plan.yaml", strict=True)


async def _run(test: TestSpec, url: str, workers: int = 0) -> RunResult:
    return await run_load(build_profile(test, base_url=url), RunOptions(workers=workers))


def _outcomes(result: RunResult, step: int | None = None) -> dict[str, int]:
    samples = result.samples if step is None else result.steps[step].samples
    codes, counts = np.unique(samples.outcome, return_counts=True)
    return {OUTCOME_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}


def _checks(result: RunResult, step: int) -> dict[str, list[int]]:
    merged: dict[str, list[int]] = {}
    for tally in result.steps[step].phases:
        for name, (passed, failed) in tally.checks.items():
            counts = merged.setdefault(name, [0, 0])
            counts[0] += passed
            counts[1] += failed
    return merged


async def test_a_journey_passes_the_token_it_extracts_and_every_check(
    journey: JourneyServer, users_csv: Path, flow_path: str
) -> None:
    result = await _run(_test([LOGIN, ADD, SUBMIT], users_csv), journey.url)
    assert len(result.samples) == 40
    assert _outcomes(result) == {"ok": 40}
    assert [s.name for s in result.steps] == ["login", "add-item", "submit"]
    assert [s.target for s in result.steps] == [
        "POST /auth/login",
        "POST /cart/items",
        "POST /checkout/submit",
    ]
    for index in range(3):
        assert _outcomes(result, index) == {"ok": 40}
    assert _checks(result, 1) == {"status 201": [40, 0], "$.items[0].sku == 'A1'": [40, 0]}
    # Each iteration read its own row (sequential) and its steps carried that user's token.
    logins = sorted(s.body for s in journey.seen if s.path == "/auth/login")
    assert logins == sorted(f'{{"user":"u{i}","password":"pw-u{i}"}}'.encode() for i in range(40))
    owners = {s.headers["authorization"] for s in journey.seen if s.path == "/checkout/submit"}
    assert owners == {f"Bearer tok-u{i}" for i in range(40)}


async def test_an_iteration_counts_from_its_intended_start_and_each_step_from_when_it_was_due(
    journey: JourneyServer, users_csv: Path, flow_path: str
) -> None:
    journey.delays["/cart/items"] = 0.05
    think = dict(ADD, thinkTime="200ms")
    result = await _run(_test([LOGIN, think, SUBMIT], users_csv, rps=10), journey.url)
    iterations = result.samples.latency
    add, submit = result.steps[1].samples, result.steps[2].samples
    # The slow step is in the iteration's latency, the think time after it is not.
    assert np.all(iterations >= 0.05)
    assert np.all(iterations < 0.2)
    # The step after the slow one is due when it ended plus its think time: it is not charged the delay.
    assert float(np.median(add.latency)) >= 0.05
    assert float(np.max(submit.latency)) < 0.05
    assert np.all(submit.start - add.start >= 0.25 - 1e-3)


async def test_a_step_waiting_for_a_client_is_timed_from_when_it_was_due(
    journey: JourneyServer, users_csv: Path, flow_path: str
) -> None:
    """One connection, 20 ms per login at 100 iterations a second: the queue shows in the latency."""
    journey.delays["/auth/login"] = 0.02
    result = await _run(_test([LOGIN], users_csv, rps=100, maxConnections=1), journey.url)
    login = result.steps[0].samples
    assert float(np.mean(login.service)) < 0.03
    assert float(np.mean(login.latency)) > 3 * float(np.mean(login.service))
    assert np.allclose(result.samples.latency, login.latency, atol=1e-3)


async def test_a_missing_token_is_401_and_stop_ends_the_iteration(
    journey: JourneyServer, users_csv: Path, flow_path: str
) -> None:
    no_token = {**ADD, "request": {**ADD["request"], "headers": {}}}  # type: ignore[dict-item]
    result = await _run(_test([LOGIN, no_token, SUBMIT], users_csv), journey.url)
    assert _outcomes(result) == {"http4xx": 40}
    assert _outcomes(result, 1) == {"http4xx": 40}
    assert len(result.steps[2].samples) == 0
    assert _checks(result, 1) == {"status 201": [0, 40]}


async def test_a_failed_check_is_class_check_and_continue_runs_the_next_steps(
    journey: JourneyServer, users_csv: Path, flow_path: str
) -> None:
    wrong = {
        **ADD,
        "check": {"status": 201, "$.items[0].sku": "B2", "$.items": {"length": 1}},
        "onFail": "continue",
    }
    result = await _run(_test([LOGIN, wrong, SUBMIT], users_csv), journey.url)
    assert _outcomes(result) == {"check": 40}
    assert _outcomes(result, 1) == {"check": 40}
    assert _outcomes(result, 2) == {"ok": 40}
    assert _checks(result, 1) == {
        "status 201": [40, 0],
        "$.items[0].sku == 'B2'": [0, 40],
        "$.items length 1": [40, 0],
    }
    assert np.all(np.isfinite(result.samples.latency))  # answered: the iteration has a latency


async def test_a_value_that_cannot_be_extracted_fails_its_step_and_the_steps_that_need_it(
    journey: JourneyServer, users_csv: Path, flow_path: str
) -> None:
    missing = {**LOGIN, "extract": {"token": "$.session"}, "onFail": "continue"}
    result = await _run(_test([missing, ADD], users_csv), journey.url)
    assert _outcomes(result, 0) == {"extract": 40}
    assert _outcomes(result, 1) == {"extract": 40}  # ${token} was never set: the call is not made
    assert _outcomes(result) == {"extract": 40}
    assert not [s for s in journey.seen if s.path == "/cart/items"]


async def test_headers_and_regex_extract_and_built_in_values_fill_in(
    journey: JourneyServer, flow_path: str
) -> None:
    echo = {
        "name": "echo",
        "request": {
            "path": "/echo/${iteration}?id=${uuid}",
            "headers": {"X-Vu": "${vu}", "X-Id": "${uuid}", "X-Home": "${env:HOME}"},
        },
        "extract": {"kind": "header:Content-Type", "id": 'regex:"x-id": "([^"]+)"'},
        "check": {"bodyContains": "x-vu"},
    }
    again = {
        "name": "again",
        "request": {"path": "/echo/again", "headers": {"X-Kind": "${kind}", "X-Back": "${id}"}},
    }
    result = await _run(_test([echo, again], None, rps=5), journey.url)
    assert _outcomes(result) == {"ok": 5}
    first = [s for s in journey.seen if s.path.startswith("/echo/") and s.path != "/echo/again"]
    second = [s for s in journey.seen if s.path == "/echo/again"]
    assert sorted(s.path.split("?")[0] for s in first) == [f"/echo/{i}" for i in range(5)]
    for seen in first:
        assert seen.path.split("id=")[1] == seen.headers["x-id"]  # one uuid per iteration
        assert seen.headers["x-vu"] == "0"  # the open model's ${vu}: the worker's number
    assert {s.headers["x-kind"] for s in second} == {"application/json"}
    assert {s.headers["x-back"] for s in second} == {s.headers["x-id"] for s in first}


async def test_credentials_in_the_base_url_are_sent_as_basic_authorization_and_leave_the_url(
    journey: JourneyServer, flow_path: str
) -> None:
    echo = {"name": "echo", "request": {"path": "/echo/x"}}
    url = journey.url.replace("http://", "http://ops:s3cret-pw@")
    result = await _run(_test([echo], None, rps=2), url)
    assert result.target == journey.url
    assert {s.headers["authorization"] for s in journey.seen} == {"Basic b3BzOnMzY3JldC1wdw=="}


async def test_a_step_unanswered_past_the_timeout_times_out_and_its_client_is_replaced(
    journey: JourneyServer, users_csv: Path, flow_path: str
) -> None:
    journey.delays["/cart/items"] = 0.5
    result = await _run(_test([LOGIN, ADD], users_csv, rps=10, timeout="150ms"), journey.url)
    assert _outcomes(result, 1) == {"timeout": 10}
    assert _outcomes(result) == {"timeout": 10}
    assert np.all(np.isnan(result.samples.latency))
    assert _outcomes(result, 0) == {"ok": 10}


async def test_a_users_client_runs_steps_by_import_path(users_csv: Path) -> None:
    steps = [
        {
            "name": "send",
            "surface": "flow_clients:EchoClient",
            "params": {"user": "${data.user}"},
            "extract": {"who": "$.params.user"},
        },
        {
            "name": "confirm",
            "surface": "flow_clients:EchoClient",
            "params": {"who": "${who}", "status": 202},
            "check": {"status": 202, "$.params.who": "${data.user}"},
        },
        {"name": "queue", "surface": "flow_clients:StatuslessClient", "check": {"bodyContains": "queued"}},
    ]
    result = await _run(_test(steps, users_csv, rps=20), "http://127.0.0.1:9")
    assert _outcomes(result) == {"ok": 20}
    assert [s.target for s in result.steps] == [
        "flow_clients:EchoClient",
        "flow_clients:EchoClient",
        "flow_clients:StatuslessClient",
    ]
    assert _checks(result, 1) == {"status 202": [20, 0], "$.params.who == '${data.user}'": [20, 0]}


async def test_a_users_client_that_raises_fails_with_a_class_and_a_warning(users_csv: Path) -> None:
    steps = [
        {
            "name": "timeout",
            "surface": "flow_clients:FailingClient",
            "params": {"raise": "timeout"},
            "onFail": "continue",
        },
        {"name": "broken", "surface": "flow_clients:FailingClient"},
    ]
    result = await _run(_test(steps, users_csv, rps=10), "http://127.0.0.1:9")
    assert _outcomes(result, 0) == {"timeout": 10}
    assert _outcomes(result, 1) == {"clientError": 10}
    assert result.warnings == [
        "10 step calls failed with an error of the client itself (clientError): flow_clients:FailingClient: "
        "ValueError: the client broke"
    ]


async def test_a_closed_model_runs_vus_through_iterations_and_unique_rows_running_out_stop_it(
    journey: JourneyServer, tmp_path: Path, flow_path: str
) -> None:
    users = tmp_path / "few.csv"
    users.write_text("user,password\n" + "".join(f"u{i},pw-u{i}\n" for i in range(12)), encoding="utf-8")
    test = _test(
        [LOGIN, ADD],
        None,
        type="concurrency",
        vus=2,
        duration="3s",
        thinkTime="20ms",
        data={"file": str(users), "mode": "unique"},
    )
    test = test.model_copy(update={"rps": None})
    with pytest.raises(InputError) as caught:
        await _run(test, journey.url)
    message = str(caught.value)
    assert message.startswith(
        "test 'checkout-flow': data.file: expected a row for every iteration in unique mode (each row is "
        "used "
        f"once), got {users} with 12 rows: they ran out at iteration 13, "
    )
    assert message.endswith("into a 3s schedule; the test stopped there and nothing was stored")
    assert sorted(s.body for s in journey.seen if s.path == "/auth/login") == sorted(
        f'{{"user":"u{i}","password":"pw-u{i}"}}'.encode() for i in range(12)
    )


async def test_two_workers_split_the_iterations_and_their_data_rows(
    journey: JourneyServer, users_csv: Path
) -> None:
    result = await _run(
        _test([LOGIN, ADD], users_csv, rps=40, data={"file": str(users_csv), "mode": "unique"}),
        journey.url,
        workers=2,
    )
    assert _outcomes(result) == {"ok": 40}
    assert result.generator.workers == 2
    assert len(result.steps[1].samples) == 40
    users = sorted(s.body for s in journey.seen if s.path == "/auth/login")
    assert len(set(users)) == 40  # unique: every row once across both workers


async def test_a_flow_refuses_a_transport_object() -> None:
    from sk_loadagent.engine import MockTransport

    test = _test([{"name": "x", "request": {"path": "/"}}], None)
    with pytest.raises(InputError) as caught:
        await run_load(
            build_profile(test, base_url="http://127.0.0.1:9"),
            RunOptions(workers=0, transport=MockTransport()),
        )
    assert str(caught.value) == (
        "test 'checkout-flow': transport: expected fast, httpx or auto for a flow (its steps run on the "
        "engine's "
        "HTTP clients or on the surface clients they name, not on a transport object), got MockTransport"
    )


@pytest.mark.parametrize("transport", ["fast", "httpx"])
async def test_both_http_clients_carry_a_flow(
    journey: JourneyServer, users_csv: Path, transport: str
) -> None:
    profile = build_profile(_test([LOGIN, ADD, SUBMIT], users_csv, rps=20), base_url=journey.url)
    result = await run_load(profile, RunOptions(workers=0, transport=transport))  # type: ignore[arg-type]
    assert result.generator.transport == transport
    assert _outcomes(result) == {"ok": 20}
    assert Outcome.OK == 0
