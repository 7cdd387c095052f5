"""``python samples/service/app.py``: the READY line, loopback-only binding, exit codes and signals."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import httpx
import psutil
import pytest

from sk_loadagent.sample_service import samples_dir

APP = str(samples_dir() / "service" / "app.py")


def run_app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, APP, *args], capture_output=True, text=True, timeout=20, check=False
    )


@contextmanager
def started_app(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The app running with a PIPE for stdout; yields the process and its first stdout line."""
    process = subprocess.Popen(
        [sys.executable, APP, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield process, process.stdout.readline().rstrip("\n")
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_prints_one_ready_line_serves_and_exits_cleanly_on_signal(signum: signal.Signals) -> None:
    with started_app("--host", "127.0.0.1", "--port", "0") as (process, line):
        match = re.fullmatch(r"READY http://127\.0\.0\.1:(\d+) pid=(\d+)", line)
        assert match is not None, line
        assert int(match.group(2)) == process.pid
        port = int(match.group(1))
        assert port > 0
        assert httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False).status_code == 200
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)
        assert process.returncode == 0, stderr
        assert stdout == ""  # exactly one line in all
        assert "Traceback" not in stderr


def test_listens_on_ipv6_loopback_and_brackets_it_in_the_url() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this machine")
    with started_app("--host", "::1") as (process, line):
        assert re.fullmatch(rf"READY http://\[::1\]:\d+ pid={process.pid}", line), line
        process.terminate()
        process.communicate(timeout=10)
        assert process.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--host", "0.0.0.0"],
            "app.py: error: refusing to listen on 0.0.0.0: the sample service only listens on loopback"
            " (127.0.0.1, ::1 or localhost)\n",
        ),
        (
            ["--host", "192.168.1.10"],
            "app.py: error: refusing to listen on 192.168.1.10: the sample service only listens on loopback"
            " (127.0.0.1, ::1 or localhost)\n",
        ),
        (
            ["--port", "5432"],
            "app.py: error: refusing port 5432: it belongs to PostgreSQL on this machine;"
            " use --port 0 for a free port\n",
        ),
        (
            ["--latency-ms", "-5"],
            "app.py: error: --latency-ms: expected a number from 0 to 3600000, got -5.0\n",
        ),
        (
            ["--config", '{"endpoints": {"/x": {}}}'],
            "app.py: error: --config endpoints./x: expected one of /checkout/submit, /appointments/book,"
            " /notifications/send, /auth/login, /cart/items, /cart/submit\n",
        ),
    ],
)
def test_refuses_bad_arguments_with_exit_code_2_and_a_message(args: list[str], message: str) -> None:
    result = run_app(*args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)


def test_refuses_every_service_port_of_the_machine(app_module: ModuleType) -> None:
    for port in (5432, 3306, 6379, 5672, 15672, 1883, 4222, 8222):
        with pytest.raises(ValueError, match=rf"^refusing port {port}: it belongs to "):
            app_module.allowed_port(port)
    with pytest.raises(ValueError, match=r"^refusing port 70000: expected 0"):
        app_module.allowed_port(70000)
    assert app_module.allowed_port(0) == 0
    assert app_module.allowed_port(8080) == 8080


def test_accepts_only_loopback_hosts(app_module: ModuleType) -> None:
    assert app_module.loopback_host("localhost") == ("127.0.0.1", "127.0.0.1")
    assert app_module.loopback_host("127.0.0.2") == ("127.0.0.2", "127.0.0.2")
    assert app_module.loopback_host("[::1]") == ("::1", "[::1]")
    for host in ("example.com", "::", "10.0.0.5", ""):
        with pytest.raises(ValueError, match="only listens on loopback"):
            app_module.loopback_host(host)


def test_knob_flags_and_config_set_the_startup_knobs() -> None:
    config = '{"capacity": null, "endpoints": {"/checkout/submit": {"latencyMs": 5}}}'
    with started_app("--release", "slow", "--error-rate", "0.5", "--config", config) as (process, line):
        url = line.split()[1]
        knobs = httpx.get(f"{url}/admin/config", trust_env=False).json()
        process.terminate()
    assert (knobs["release"], knobs["errorRate"], knobs["capacity"]) == ("slow", 0.5, None)
    assert knobs["endpoints"] == {"/checkout/submit": {"latencyMs": 5.0}}


def test_exits_with_its_parent_when_asked() -> None:
    parent = textwrap.dedent(
        f"""
        import subprocess, sys
        command = [sys.executable, {APP!r}, "--exit-with-parent"]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        print(child.stdout.readline().split("pid=")[1], flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, timeout=20, check=True
    )
    orphan = int(result.stdout)
    deadline = time.monotonic() + 10
    while not exited(orphan):
        assert time.monotonic() < deadline, "the service outlived its parent"
        time.sleep(0.1)


def exited(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
