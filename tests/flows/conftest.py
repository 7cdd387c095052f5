"""Fixtures of the flow tests: the journey server and a users CSV."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from journey_server import JourneyServer, running_journey, write_users


@pytest.fixture
def journey() -> Iterator[JourneyServer]:
    with running_journey() as server:
        yield server


@pytest.fixture
def users_csv(tmp_path: Path) -> Path:
    return write_users(tmp_path / "users.csv")
