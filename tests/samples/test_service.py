"""The sample service's endpoints and knobs, measured through HTTP against one running service."""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psutil
import pytest
import yaml

from sk_loadagent.sample_service import SampleService, samples_dir

BUSINESS = {
    "/checkout/submit": ("CheckoutService", "chk-"),
    "/appointments/book": ("AppointmentsService", "apt-"),
    "/notifications/send": ("NotificationService", "ntf-"),
}


@pytest.fixture(scope="module")
def service() -> Iterator[SampleService]:
    with SampleService(seed=7) as svc:
        yield svc


@pytest.fixture
async def client(service: SampleService) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=service.url, trust_env=False, timeout=10.0, limits=limits) as c:
        (await c.post("/admin/reset")).raise_for_status()
        yield c


async def configure(client: httpx.AsyncClient, **knobs: Any) -> dict[str, Any]:
    response = await client.put("/admin/config", json=knobs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def burst(
    client: httpx.AsyncClient, n: int, path: str = "/checkout/submit"
) -> list[tuple[float, float, int]]:
    """n requests at once: (sent, done, status) per request, in time.monotonic seconds."""

    async def one() -> tuple[float, float, int]:
        sent = time.monotonic()
        response = await client.post(path, content=b"{}")
        return sent, time.monotonic(), response.status_code

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def stats(client: httpx.AsyncClient, path: str = "/checkout/submit") -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/admin/stats")).json()
    return body if path == "" else body["endpoints"][path]


# ---- endpoints


@pytest.mark.parametrize("path", list(BUSINESS))
@pytest.mark.parametrize("method", ["POST", "GET", "PUT"])
async def test_business_endpoints_answer_json_with_any_method(
    client: httpx.AsyncClient, path: str, method: str
) -> None:
    response = await client.request(method, path, content=b'{"petId": "pet-7781"}')
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    service, prefix = BUSINESS[path]
    assert body["service"] == service
    assert body["endpoint"] == path
    assert body["id"].startswith(prefix)
    assert body["status"] == "accepted"
    assert body["release"] == "stable"
    assert body["requestBytes"] == 21


async def test_health_applies_no_knobs(client: httpx.AsyncClient) -> None:
    await configure(client, errorRate=1.0, latencyMs=3000)
    started = time.monotonic()
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert time.monotonic() - started < 1.5  # the 3 s latency knob does not apply
    await configure(client, latencyMs=0)
    assert (await client.post("/checkout/submit")).status_code == 500


async def test_openapi_json_is_the_generated_api_document_and_lists_every_route(
    client: httpx.AsyncClient,
) -> None:
    document = yaml.safe_load(
        (samples_dir() / "vetclinic" / "generated.api.yaml").read_text(encoding="utf-8")
    )
    served = await client.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == document
    missing = await client.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no route /no/such/route"
    assert set(missing.json()["routes"]) == set(document["paths"])


async def test_read_only_endpoints_refuse_other_methods(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    response = await client.delete("/admin/config")
    assert response.status_code == 405
    assert response.json() == {"error": "method DELETE not allowed", "allow": "GET, HEAD, PUT, POST"}


# ---- the admin endpoint


async def test_admin_config_returns_every_knob_with_its_default(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/config")).json() == {
        "latencyMs": 20.0,
        "jitter": 0.3,
        "errorRate": 0.0,
        "release": "stable",
        "slowFactor": 3.0,
        "capacity": 16,
        "queueLimit": None,
        "leakKbPerRequest": 0.0,
        "responseBytes": 0,
        "freezeEverySeconds": 0.0,
        "freezeSeconds": 0.0,
        "coldStartSeconds": 0.0,
        "endpoints": {},
    }


async def test_admin_changes_knobs_at_run_time_and_per_endpoint(client: httpx.AsyncClient) -> None:
    config = await configure(
        client, latencyMs=1, endpoints={"/checkout/submit": {"errorRate": 1, "release": "slow"}}
    )
    assert config["latencyMs"] == 1.0
    assert config["endpoints"] == {"/checkout/submit": {"errorRate": 1.0, "release": "slow"}}
    assert (await client.get("/admin/config")).json() == config
    assert (await client.post("/checkout/submit")).status_code == 500
    booked = await client.post("/appointments/book")
    assert booked.status_code == 200
    assert booked.json()["release"] == "stable"
    # POST works like PUT, and null removes one override (then the whole endpoint entry once it is empty)
    response = await client.post(
        "/admin/config", json={"endpoints": {"/checkout/submit": {"errorRate": None}}}
    )
    assert response.json()["endpoints"] == {"/checkout/submit": {"release": "slow"}}
    config = await configure(client, endpoints={"/checkout/submit": None})
    assert config["endpoints"] == {}
    assert (await client.post("/checkout/submit")).status_code == 200


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        (
            {"latencyMS": 5},
            [
                (
                    "latencyMS",
                    "a known knob (latencyMs, jitter, errorRate, release, slowFactor, capacity, queueLimit, "
                    "leakKbPerRequest, responseBytes, freezeEverySeconds, freezeSeconds, coldStartSeconds, "
                    "endpoints)",
                    None,
                )
            ],
        ),
        ({"errorRate": 1.5}, [("errorRate", "a number from 0 to 1", "1.5")]),
        ({"capacity": 0}, [("capacity", "an integer ≥ 1 or null (unlimited)", "0")]),
        ({"capacity": 2.5}, [("capacity", "an integer ≥ 1 or null (unlimited)", "2.5")]),
        ({"latencyMs": "20"}, [("latencyMs", "a number from 0 to 3600000", "'20'")]),
        ({"latencyMs": True}, [("latencyMs", "a number from 0 to 3600000", "true")]),
        ({"release": "fast"}, [("release", "'stable' or 'slow'", "'fast'")]),
        (
            {"freezeEverySeconds": 1, "freezeSeconds": 1},
            [("freezeSeconds", "less than freezeEverySeconds (1), which must be set", "1.0")],
        ),
        (
            {"endpoints": {"/checkout": {"latencyMs": 1}}},
            [
                (
                    "endpoints./checkout",
                    "one of /checkout/submit, /appointments/book, /notifications/send, /auth/login, "
                    "/cart/items, /cart/submit",
                    None,
                )
            ],
        ),
        (
            {"endpoints": {"/checkout/submit": {"coldStartSeconds": 1, "jitter": -1}}},
            [
                (
                    "endpoints./checkout/submit.coldStartSeconds",
                    "a per-endpoint knob (latencyMs, jitter, errorRate, release, slowFactor, capacity, "
                    "queueLimit, leakKbPerRequest, responseBytes)",
                    None,
                ),
                ("endpoints./checkout/submit.jitter", "a number from 0 to 3", "-1"),
            ],
        ),
        ({"endpoints": []}, [("endpoints", "an object keyed by endpoint path", "[]")]),
        ([1, 2], [("", 'a JSON object of knobs, such as {"latencyMs": 20}', "[1, 2]")]),
    ],
)
async def test_admin_rejects_bad_knobs_with_400_and_changes_nothing(
    client: httpx.AsyncClient, body: object, problems: list[tuple[str, str, str | None]]
) -> None:
    before = (await client.get("/admin/config")).json()
    response = await client.put(
        "/admin/config", json={"latencyMs": 7, **body} if isinstance(body, dict) else body
    )
    assert response.status_code == 400
    answer = response.json()
    assert [(p["field"], p["expected"], p["got"]) for p in answer["problems"]] == problems
    assert answer["error"].startswith(f"rejected knobs: {problems[0][0]}: expected {problems[0][1]}")
    assert (await client.get("/admin/config")).json() == before


async def test_admin_rejects_a_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.put("/admin/config", content=b"latencyMs=5")
    assert response.status_code == 400
    assert response.json()["error"] == "rejected knobs: : expected a JSON object of knobs, got 'latencyMs=5'"


async def test_admin_reset_restores_the_startup_knobs(client: httpx.AsyncClient) -> None:
    initial = (await client.get("/admin/config")).json()
    await configure(client, release="slow", endpoints={"/appointments/book": {"latencyMs": 1}})
    reset = await client.post("/admin/reset")
    assert reset.json() == initial


# ---- knobs, measured


async def test_slow_release_is_slow_factor_times_slower(client: httpx.AsyncClient) -> None:
    async def median_latency() -> float:
        latencies = []
        for _ in range(8):  # one at a time: the client's own time stays out of the figure
            sent = time.monotonic()
            assert (await client.post("/checkout/submit")).status_code == 200
            latencies.append(time.monotonic() - sent)
        return statistics.median(latencies)

    await configure(client, latencyMs=40, jitter=0)
    stable = await median_latency()
    await configure(client, release="slow")
    slow = await median_latency()
    # about 3: asyncio timers and the client add a millisecond or two to both
    assert 2.6 <= slow / stable <= 3.1, (stable, slow)
    config = await configure(client, slowFactor=1.5)
    assert config["slowFactor"] == 1.5
    response = await client.post("/checkout/submit")
    assert response.headers["x-service-time-ms"] == "60.000"


async def test_jitter_is_lognormal_around_the_median(client: httpx.AsyncClient) -> None:
    await configure(client, latencyMs=1, jitter=0.5, capacity=None)
    drawn = []
    for _ in range(4):
        responses = await asyncio.gather(*(client.post("/notifications/send") for _ in range(50)))
        drawn += [float(r.headers["x-service-time-ms"]) for r in responses]
    logs = [math.log(ms) for ms in drawn]
    assert abs(statistics.median(drawn) - 1.0) < 0.2
    assert 0.42 < statistics.stdev(logs) < 0.58


async def test_error_rate_is_the_fraction_answered_500(client: httpx.AsyncClient) -> None:
    await configure(client, latencyMs=0, errorRate=0.25, capacity=None)
    errors_before = (await stats(client))["errors"]
    statuses = []
    for _ in range(4):
        statuses += [status for _, _, status in await burst(client, 100)]
    assert set(statuses) == {200, 500}
    # 400 draws: the standard error of the fraction is 0.022
    assert 0.18 <= statuses.count(500) / len(statuses) <= 0.32
    assert (await stats(client))["errors"] - errors_before == statuses.count(500)


async def test_capacity_caps_throughput_at_capacity_over_service_time(client: httpx.AsyncClient) -> None:
    await configure(client, latencyMs=20, jitter=0, capacity=4)
    before = await stats(client)
    samples = await burst(client, 120)
    assert {status for _, _, status in samples} == {200}
    done = sorted(d for _, d, _ in samples)
    # completions come four at a time every ~21 ms (20 ms plus timer overshoot): C/S = 4 / 20 ms = 200/s
    throughput = (len(done) - 4) / (done[-1] - done[3])
    assert 130 <= throughput <= 205, throughput
    after = await stats(client)
    assert after["maxActive"] == 4
    assert after["maxQueued"] > before["maxQueued"]


async def test_queue_limit_answers_503_at_once(client: httpx.AsyncClient) -> None:
    await configure(client, latencyMs=300, jitter=0, capacity=2, queueLimit=3)
    samples = await burst(client, 20, "/appointments/book")
    ok = [done for _, done, status in samples if status == 200]
    rejected = [done for _, done, status in samples if status == 503]
    assert (len(ok), len(rejected)) == (5, 15)
    assert max(rejected) < min(ok)  # rejected without waiting for a slot
    counters = await stats(client, "/appointments/book")
    assert (counters["rejected"], counters["maxActive"], counters["maxQueued"]) == (15, 2, 3)


async def test_leak_grows_the_resident_memory(client: httpx.AsyncClient, service: SampleService) -> None:
    await configure(client, latencyMs=0, leakKbPerRequest=512)
    process = psutil.Process(service.pid)
    before = process.memory_info().rss
    for _ in range(3):
        await burst(client, 20, "/notifications/send")
    grown_mb = (process.memory_info().rss - before) / 2**20
    assert 25 <= grown_mb <= 40, grown_mb  # 60 x 0.5 MiB = 30 MiB
    assert (await stats(client, ""))["leakedKb"] >= 60 * 512


async def test_freeze_holds_every_response_until_the_window_ends(client: httpx.AsyncClient) -> None:
    await configure(client, latencyMs=1, jitter=0, freezeEverySeconds=1.0, freezeSeconds=0.4)
    origin = (await stats(client, ""))["freezeOrigin"]  # CLOCK_MONOTONIC, as time.monotonic() here
    # windows are [origin + 0.6, origin + 1.0), [origin + 1.6, origin + 2.0), ...
    await asyncio.sleep(max(0.0, origin + 0.7 - time.monotonic()))
    health_sent = time.monotonic()
    health = await client.get("/health")
    health_done = time.monotonic()
    frozen = await client.post("/checkout/submit")
    frozen_done = time.monotonic()
    assert health.status_code == frozen.status_code == 200
    assert health_done - health_sent < 0.2  # /health is never frozen
    assert origin + 1.0 <= frozen_done < origin + 1.1
    await asyncio.sleep(max(0.0, origin + 1.1 - time.monotonic()))
    sent = time.monotonic()
    await client.post("/checkout/submit")
    assert time.monotonic() - sent < 0.3  # outside the window: 1 ms


async def test_cold_start_is_five_times_slower_for_its_duration(client: httpx.AsyncClient) -> None:
    await configure(client, latencyMs=10, jitter=0, coldStartSeconds=0.5)
    cold = await client.post("/appointments/book")
    assert cold.headers["x-service-time-ms"] == "50.000"
    until = (await stats(client, ""))["coldStartUntil"]
    await asyncio.sleep(max(0.0, until - time.monotonic() + 0.02))
    warm = await client.post("/appointments/book")
    assert warm.headers["x-service-time-ms"] == "10.000"


async def test_response_bytes_pads_the_json_body_and_the_request_size_is_echoed(
    client: httpx.AsyncClient,
) -> None:
    await configure(client, latencyMs=0, endpoints={"/notifications/send": {"responseBytes": 4096}})
    padded = await client.post("/notifications/send", content=b"x" * 5000)
    assert len(padded.content) == 4096
    assert json.loads(padded.content)["requestBytes"] == 5000
    plain = await client.post("/checkout/submit", content=b"x" * 5000)
    assert len(plain.content) < 200
    assert "padding" not in plain.json()
