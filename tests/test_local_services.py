"""A test that needs a local service skips without it on a developer's machine and fails under CI=true."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from local_services import nats_server, postgres_server, rabbitmq_server


@pytest.fixture
def nowhere() -> str:
    """A PostgreSQL URL on a loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/test"


def test_a_missing_server_skips_with_the_reason_outside_ci(
    nowhere: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception) as skipped:
        postgres_server(nowhere)

    assert str(skipped.value).startswith(f"PostgreSQL is not reachable at {nowhere}: ")


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_a_missing_server_fails_under_ci(nowhere: str, ci: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", ci)

    with pytest.raises(pytest.fail.Exception) as failed:
        postgres_server(nowhere)

    assert str(failed.value).startswith(f"PostgreSQL is not reachable at {nowhere}: ")
    assert str(failed.value).endswith("(CI=true: a missing service fails the run instead of skipping)")


@pytest.mark.parametrize(
    ("server", "scheme", "name"), [(nats_server, "nats", "NATS"), (rabbitmq_server, "amqp", "RabbitMQ")]
)
def test_a_missing_broker_fails_under_ci_and_skips_outside(
    nowhere: str, server: Callable[[str], str], scheme: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = nowhere.split(":")[2].split("/")[0]
    url = f"{scheme}://127.0.0.1:{port}"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        server(url)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception) as skipped:
        server(url)

    assert str(failed.value).startswith(f"{name} is not reachable at 127.0.0.1:{port}: ")
    assert str(skipped.value) == str(failed.value).removesuffix(
        " (CI=true: a missing service fails the run instead of skipping)"
    )
