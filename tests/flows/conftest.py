"""Fixtures of the flow tests: the journey server, a users CSV, and the way an HTTP flow runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from journey_server import JourneyServer, running_journey, write_users

from sk_loadagent.engine import _worker


@pytest.fixture
def journey() -> Iterator[JourneyServer]:
    with running_journey() as server:
        yield server


@pytest.fixture
def users_csv(tmp_path: Path) -> Path:
    return write_users(tmp_path / "users.csv")


@pytest.fixture(params=["callbacks", "tasks"])
def flow_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How a flow whose steps are all HTTP on the fast client runs in this process: on callbacks (the
    engine's choice) or on a task per iteration (the way every other flow runs), so a test covers both."""
    if request.param == "tasks":
        monkeypatch.setattr(_worker, "carrier_for", lambda flow, http, hub: None)
    return str(request.param)
