"""Targets of the engine bench: nginx (installed with apt-get when missing) or the bundled servers.

Every target listens on 127.0.0.1 only, on a port picked free at start, and is pinned to one core. With
``tls=True`` it serves HTTPS with a certificate for 127.0.0.1 from a CA made for the run (trustme); the
target's ``ca_file`` is what clients verify it with.
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
        listen 127.0.0.1:{port} {ssl}reuseport backlog=4096;
{certificate}        location / {{ default_type text/plain; return 200 "ok"; }}
    }}
}}
"""
# nginx's defaults otherwise: TLS 1.2 and 1.3, stateless session tickets (so clients can resume).
NGINX_TLS = """        ssl_certificate {cert};
        ssl_certificate_key {cert};
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
    ca_file: str | None = None  # https:// targets: the CA that signed the server's certificate

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

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


def write_certificate(workdir: str) -> tuple[str, str]:
    """A server certificate (with its key) for 127.0.0.1 and the CA file that verifies it."""
    import trustme  # the dev extra's; only the HTTPS rows need it

    ca = trustme.CA()
    cert, ca_file = f"{workdir}/server.pem", f"{workdir}/ca.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(cert)
    ca.cert_pem.write_to_path(ca_file)
    return cert, ca_file


def start_nginx(binary: str, cpu: int, tls: bool = False) -> Target:
    workdir = tempfile.mkdtemp(prefix="engine-bench-nginx-")
    os.makedirs(f"{workdir}/tmp")
    port = free_port()
    conf = f"{workdir}/nginx.conf"
    cert, ca_file = write_certificate(workdir) if tls else ("", None)
    Path(conf).write_text(
        NGINX_CONF.format(
            dir=workdir,
            port=port,
            ssl="ssl " if tls else "",
            certificate=NGINX_TLS.format(cert=cert) if tls else "",
        )
    )
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
    scheme = "https" if tls else "http"
    name = "nginx (https)" if tls else "nginx"
    url = f"{scheme}://127.0.0.1:{port}/"
    return Target(name, url, process, [process.pid], workdir=workdir, ca_file=ca_file)


def start_bundled(
    kind: str, cpu: int, delay: float = 0.001, period: float = 5.0, tls: bool = False
) -> Target:
    """One of ``_engine_servers.py``'s targets (fast, delay, freeze) as a child process."""
    workdir = tempfile.mkdtemp(prefix=f"engine-bench-{kind}-")
    cert, ca_file = write_certificate(workdir) if tls else ("", None)
    args = ["--delay", str(delay), "--period", str(period)]
    if tls:
        args += ["--cert", cert]
    name = f"bundled {kind} server" + (" (https)" if tls else "")
    scheme = "https" if tls else "http"
    target = start_script(HERE / "_engine_servers.py", kind, cpu, args, workdir, name, scheme)
    target.ca_file = ca_file
    return target


def start_script(
    script: Path,
    kind: str,
    cpu: int,
    args: list[str],
    workdir: str = "",
    name: str = "",
    scheme: str = "http",
) -> Target:
    """``python SCRIPT KIND --state FILE ARGS`` pinned to ``cpu``, once it has written ``PORT T0`` to FILE
    (the bench's servers do when they listen); its URL is ``SCHEME://127.0.0.1:PORT/``."""
    workdir = workdir or tempfile.mkdtemp(prefix=f"engine-bench-{kind}-")
    state = f"{workdir}/state"
    cmd = ["taskset", "-c", str(cpu), sys.executable, str(script), kind, "--state", state, *args]
    with open(f"{workdir}/server.log", "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while not os.path.exists(state):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"{name or kind} server did not start")
        time.sleep(0.02)
    port_text, t0_text = Path(state).read_text().split()
    return Target(
        name or kind,
        f"{scheme}://127.0.0.1:{port_text}/",
        process,
        [process.pid],
        t0_monotonic=float(t0_text),
        workdir=workdir,
    )


def start_saturation_target(
    cpu: int, install: bool, prefer_bundled: bool = False, tls: bool = False
) -> Target:
    """nginx when available (installing it if allowed), else the bundled fast server."""
    binary = None if prefer_bundled else find_nginx(install)
    if binary is not None:
        try:
            return start_nginx(binary, cpu, tls=tls)
        except RuntimeError as exc:
            print(f"nginx would not start ({exc}); using the bundled fast server", flush=True)
    return start_bundled("fast", cpu, tls=tls)
