"""Targets of the engine bench: nginx (installed with apt-get when missing) or the bundled servers.

Every target listens on 127.0.0.1 only, on a port picked free at start, and is pinned to one core.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 15.0

NGINX_CONF = """worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location / {{ default_type text/plain; return 200 "ok"; }}
    }}
}}
"""


@dataclass
class Target:
    """A running target: its URL, the pids that serve it, and when its clock started (freeze server)."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    serving_pids: list[int] = field(default_factory=list)
    t0_monotonic: float = 0.0
    workdir: str = ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_nginx(install: bool) -> str | None:
    """The nginx binary; with ``install`` and root, apt-get installs it when missing."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found or not install:
        return found
    if not apt_install(["nginx"]):
        return None
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def apt_install(packages: list[str]) -> bool:
    """apt-get install as root (never sudo, never a prompt); False when that is not possible or fails."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    first = subprocess.run(["apt-get", "install", "-y", "-qq", *packages], env=env, capture_output=True)
    if first.returncode == 0:
        return True
    # The package lists may be missing or stale on a fresh machine.
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
    again = subprocess.run(["apt-get", "install", "-y", "-qq", *packages], env=env, capture_output=True)
    return again.returncode == 0


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"target exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {START_TIMEOUT:g} s")


def start_nginx(binary: str, cpu: int) -> Target:
    workdir = tempfile.mkdtemp(prefix="engine-bench-nginx-")
    os.makedirs(f"{workdir}/tmp")
    port = free_port()
    conf = f"{workdir}/nginx.conf"
    Path(conf).write_text(NGINX_CONF.format(dir=workdir, port=port))
    process = subprocess.Popen(
        ["taskset", "-c", str(cpu), binary, "-c", conf, "-e", f"{workdir}/error.log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, process)
    except RuntimeError:
        process.kill()
        process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return Target("nginx", f"http://127.0.0.1:{port}/", process, [process.pid], workdir=workdir)


def start_bundled(kind: str, cpu: int, delay: float = 0.001, period: float = 5.0) -> Target:
    """One of ``_engine_servers.py``'s targets (fast, delay, freeze) as a child process."""
    workdir = tempfile.mkdtemp(prefix=f"engine-bench-{kind}-")
    state = f"{workdir}/state"
    cmd = [
        "taskset",
        "-c",
        str(cpu),
        sys.executable,
        str(HERE / "_engine_servers.py"),
        kind,
        "--state",
        state,
    ]
    with open(f"{workdir}/server.log", "wb") as log:
        process = subprocess.Popen(
            [*cmd, "--delay", str(delay), "--period", str(period)], stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not os.path.exists(state):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"bundled {kind} server did not start")
        time.sleep(0.02)
    port_text, t0_text = Path(state).read_text().split()
    return Target(
        f"bundled {kind} server",
        f"http://127.0.0.1:{port_text}/",
        process,
        [process.pid],
        t0_monotonic=float(t0_text),
        workdir=workdir,
    )


def start_saturation_target(cpu: int, install: bool, prefer_bundled: bool = False) -> Target:
    """nginx when available (installing it if allowed), else the bundled fast server."""
    binary = None if prefer_bundled else find_nginx(install)
    if binary is not None:
        try:
            return start_nginx(binary, cpu)
        except RuntimeError as exc:
            print(f"nginx would not start ({exc}); using the bundled fast server", flush=True)
    return start_bundled("fast", cpu)
