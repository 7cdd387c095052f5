"""Every Outcome is classified the same way by both transports; a dead target is reported, not measured."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from sk_loadagent.engine import LoadProfile, Outcome, Progress, RunOptions, RunResult, build_profile, run_load
from sk_loadagent.engine._transports.httpx import classify
from sk_loadagent.errors import TargetUnreachableError
from sk_loadagent.models.plan import TestSpec

Serve = Callable[..., object]
TRANSPORTS = ["fast", "httpx"]


def load(url: str, **fields: object) -> LoadProfile:
    spec = {"type": "load", "rampUp": "0s", "rps": 20, "duration": "500ms", **fields}
    return build_profile(TestSpec.model_validate(spec), base_url=url)


def counts(result: RunResult) -> dict[str, int]:
    values = result.samples.outcome.tolist()
    return {Outcome(v).name: values.count(v) for v in sorted(set(values))}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_statuses_by_default_2xx_3xx_ok_4xx_5xx_errors(serve: Serve, transport: str) -> None:
    server = serve(statuses=[200, 201, 302, 404, 500, 503])
    result = await run_load(load(server.url), RunOptions(workers=0, transport=transport))  # type: ignore[attr-defined]
    # 10 requests: 200 201 302 404 500 503 200 201 302 404
    assert counts(result) == {"OK": 6, "HTTP_4XX": 2, "HTTP_5XX": 2}
    assert sorted(set(result.samples.status.tolist())) == [200, 201, 302, 404, 500, 503]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_expect_status_lists_what_is_ok(serve: Serve, transport: str) -> None:
    server = serve(statuses=[200, 201, 404, 500])
    profile = load(server.url, expectStatus=[200, 404], duration="400ms")  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0, transport=transport))
    assert counts(result) == {"OK": 4, "HTTP_5XX": 2, "UNEXPECTED_STATUS": 2}


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [("reset", Outcome.RESET), ("close", Outcome.RESET), ("garbage", Outcome.PROTOCOL_ERROR)],
)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_broken_answers(serve: Serve, transport: str, mode: str, outcome: Outcome) -> None:
    server = serve(mode=mode)
    result = await run_load(load(server.url, duration="250ms"), RunOptions(workers=0, transport=transport))  # type: ignore[attr-defined]
    assert counts(result) == {outcome.name: 5}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connection_close_answers_are_fine(serve: Serve, transport: str) -> None:
    server = serve(keep_alive=False)
    result = await run_load(load(server.url, duration="250ms"), RunOptions(workers=0, transport=transport))  # type: ignore[attr-defined]
    assert counts(result) == {"OK": 5}
    assert server.connections == 5 + 1  # type: ignore[attr-defined]  # one per request + the preflight


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_service_that_dies_mid_run_gives_refused_connects_not_a_hang(
    serve: Serve, transport: str
) -> None:
    server = serve(delay=0.002)
    profile = load(server.url, rps=100, duration="1500ms")  # type: ignore[attr-defined]

    def crash(progress: Progress) -> None:
        server.kill()  # type: ignore[attr-defined]

    options = RunOptions(workers=0, transport=transport, progress_interval=0.5)
    result = await run_load(profile, options, progress=crash)
    found = counts(result)
    assert len(result.samples) == 150
    assert 40 <= found["OK"] <= 60  # answered until the crash at 0.5 s
    assert found["CONNECT_REFUSED"] >= 85  # every later request found nothing listening
    assert set(found) <= {"OK", "CONNECT_REFUSED", "RESET"}


async def test_refused_connection_is_unreachable_and_names_the_url(refused_url: str) -> None:
    url = refused_url
    with pytest.raises(TargetUnreachableError, match=rf"target {url}/x: connection refused") as err:
        await run_load(load(url, endpoint="/x"), RunOptions(workers=0))
    assert err.value.exit_code == 3


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), Outcome.CONNECT_REFUSED),
        (httpx.ConnectError("Name or service not known"), Outcome.CONNECT_ERROR),
        (httpx.ConnectTimeout("slow"), Outcome.CONNECT_ERROR),
        (httpx.ReadTimeout("slow"), Outcome.TIMEOUT),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), Outcome.RESET),
        (httpx.RemoteProtocolError("illegal status line"), Outcome.PROTOCOL_ERROR),
        (httpx.ReadError("reset by peer"), Outcome.RESET),
        (ConnectionResetError(), Outcome.RESET),
    ],
)
def test_httpx_exceptions_map_to_outcomes(exc: BaseException, outcome: Outcome) -> None:
    assert classify(exc) == outcome
