"""The sample service shared by a module's bridged runs, and scripts written for one test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sk_loadagent.sample_service import SampleService


@pytest.fixture(scope="module")
def service() -> Iterator[SampleService]:
    with SampleService(release="stable", latency_ms=5, jitter=0.1) as started:
        yield started


@pytest.fixture
def script(tmp_path: Path) -> Callable[[str, str], Path]:
    """``script("run.js", text)``: a file in the test's own folder."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: bound for a moment to get a free number, then closed."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
