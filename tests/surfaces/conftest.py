"""Fixtures of the surface tests: the sample's gRPC AppointmentService, and a proto cache of the session's
own (the compiled protos never land in the user's cache)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sk_loadagent.sample_service import AppointmentsGrpc


@pytest.fixture(scope="module")
def grpc_server() -> Iterator[AppointmentsGrpc]:
    running = AppointmentsGrpc()
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def proto_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
