"""``sk-loadagent dashboard``'s bad input: each is one line on stderr naming what is wrong, exit 2."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from sk_loadagent.cli.main import main
from sk_loadagent.memory import ACCEPTED_FORMS


def dashboard(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["dashboard", *argv])
    return code, capsys.readouterr().err.strip()


def test_a_memory_url_of_no_known_scheme_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = dashboard(capsys, "--memory", "ftp://host/memory", "--port", "0")

    assert code == 2
    assert err == (
        "sk-loadagent: bad input: ftp://host/memory: unknown memory store scheme 'ftp://'; "
        f"expected {ACCEPTED_FORMS}"
    )


def test_a_file_that_is_no_store_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database, just text\n", encoding="utf-8")

    code, err = dashboard(capsys, "--memory", str(path), "--port", "0")

    assert code == 2
    assert err == (
        f"sk-loadagent: bad input: {path}: <file>: expected a SQLite memory store, got file is not a database"
    )
    assert path.read_text(encoding="utf-8") == "not a database, just text\n"


def test_a_port_out_of_range_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = dashboard(capsys, "--memory", str(tmp_path / "m.sqlite"), "--port", "70000")

    assert code == 2
    assert err == "sk-loadagent: bad input: --port: port: expected a port from 0 to 65535, got 70000"


def test_a_port_in_use_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, err = dashboard(capsys, "--memory", str(tmp_path / "m.sqlite"), "--port", str(port))

    assert code == 2
    assert err == (
        f"sk-loadagent: bad input: --port: port: expected a free port on this machine (0 picks one), "
        f"got {port} (Address already in use)"
    )


def test_a_host_that_does_not_resolve_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = dashboard(capsys, "--memory", str(tmp_path / "m.sqlite"), "--host", "no-such-host.invalid")

    assert code == 2
    assert err.startswith(
        "sk-loadagent: bad input: --host: host: expected a host name or address of this machine, "
        "got no-such-host.invalid ("
    )


@pytest.mark.parametrize("missing", ["starlette", "uvicorn"])
def test_without_the_extra_it_names_the_pip_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if it were not installed

    code, err = dashboard(capsys, "--memory", str(tmp_path / "m.sqlite"), "--port", "0")

    assert code == 2
    assert err == (
        f"sk-loadagent: bad input: sk-loadagent dashboard: {missing}: expected the {missing} package "
        f"(pip install 'sk-loadagent[dashboard]'), got not installed"
    )


def test_a_live_view_port_out_of_range_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(
        [
            "run",
            "--plan",
            str(tmp_path / "plan.yaml"),
            "--out",
            str(tmp_path / "perf"),
            "--dashboard-port",
            "-1",
        ]
    )

    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "sk-loadagent: bad input: --dashboard-port: port: expected a port from 0 to 65535, got -1"
    )
    assert not (tmp_path / "perf").exists()  # refused before anything was claimed or sent


def test_a_live_view_without_the_extra_names_the_pip_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)

    code = main(["run", "--plan", str(tmp_path / "plan.yaml"), "--dashboard"])

    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "sk-loadagent: bad input: run --dashboard: uvicorn: expected the uvicorn package "
        "(pip install 'sk-loadagent[dashboard]'), got not installed"
    )
