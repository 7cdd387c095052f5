"""The sample service's shopping journey: a login issues a token that the cart routes really check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from sk_loadagent.sample_service import SampleService, samples_dir


@pytest.fixture(scope="module")
def service() -> Iterator[SampleService]:
    with SampleService(seed=7, latency_ms=1) as svc:
        yield svc


@pytest.fixture
async def client(service: SampleService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, trust_env=False, timeout=10.0) as c:
        yield c


async def test_a_login_token_opens_the_cart_and_the_order_empties_it(client: httpx.AsyncClient) -> None:
    login = await client.post("/auth/login", json={"user": "u7", "password": "pw-u7"})
    assert login.status_code == 200
    token = login.json()["token"]
    assert login.json()["user"] == "u7"
    auth = {"Authorization": f"Bearer {token}"}
    added = await client.post("/cart/items", json={"sku": "VAC-RABIES", "quantity": 2}, headers=auth)
    assert added.status_code == 201
    assert added.json()["items"] == [{"sku": "VAC-RABIES", "quantity": 2}]
    order = await client.post("/cart/submit", headers=auth)
    assert (order.status_code, order.json()["items"]) == (200, 1)
    again = await client.post("/cart/submit", headers=auth)
    assert again.json()["items"] == 0


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "error"),
    [
        ("/cart/items", {}, {"sku": "A1"}, 401, "no valid bearer token (log in at /auth/login)"),
        (
            "/cart/submit",
            {"Authorization": "Bearer made-up"},
            {},
            401,
            "no valid bearer token (log in at /auth/login)",
        ),
        ("/auth/login", {}, {"user": "u1", "password": "wrong"}, 401, "unknown user or wrong password"),
        ("/auth/login", {}, None, 401, "unknown user or wrong password"),
    ],
)
async def test_the_journey_refuses_without_a_token_or_with_a_wrong_password(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], body: object, status: int, error: str
) -> None:
    response = await client.post(path, json=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (status, error)


async def test_a_body_that_is_no_json_object_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", content=b"[1, 2]")
    assert (response.status_code, response.json()["error"]) == (400, "expected a JSON object body")


def test_every_user_of_users_csv_can_log_in() -> None:
    rows = (samples_dir() / "vetclinic" / "users.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "user,password"
    assert len(rows) == 201
    assert all(line == f"{user},pw-{user}" for line in rows[1:] for user in [line.split(",")[0]])
