"""A test that needs a local service skips without it on a developer's machine and fails under CI=true."""

from __future__ import annotations

import socket

import pytest
from local_services import postgres_server


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
