"""Running the CLI in-process against the sample service, from an empty working directory."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sk_loadagent.cli.main import MEMORY_ENV, main
from sk_loadagent.sample_service import SampleService


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def service() -> Iterator[SampleService]:
    """A fast, steady sample service (5 ms, little jitter) shared by a module's runs."""
    with SampleService(release="stable", latency_ms=5, jitter=0.1) as started:
        yield started


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Relative defaults (./perf, .sk-loadagent/memory.sqlite) land in the test's own directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    return tmp_path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], workdir: Path) -> Callable[..., CliResult]:
    """``cli("run", "--plan", ...)`` from the test's own directory: the exit code and what was printed."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


DEFAULT_TEST = "type: load\n    rps: 20\n    duration: 500ms"


@pytest.fixture
def write_plan(tmp_path: Path) -> Callable[..., Path]:
    """A one-test CheckoutService plan against ``base_url``; ``test`` replaces the test's fields."""

    def write(base_url: str, *, test: str = DEFAULT_TEST, name: str = "plan.yaml") -> Path:
        path = tmp_path / name
        path.write_text(
            "traceId: cli-run\n"
            "moduleId: CheckoutService\n"
            "editionId: vetclinic\n"
            f"baseUrl: {base_url}\n"
            "endpoint: /checkout/submit\n"
            "method: POST\n"
            "tests:\n"
            f"  - name: tiny\n    {test}\n"
            "    body: {clinicId: c-1, petId: p-1, items: [{sku: EXAM-STD, quantity: 1}]}\n",
            encoding="utf-8",
        )
        return path

    return write


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: bound for a moment to get a free number, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
