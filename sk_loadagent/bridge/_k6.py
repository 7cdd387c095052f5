"""k6: the command that runs a user's script, and its JSON output lines read into samples.

Every ``http_req_duration`` point is one request: k6 stamps it at the response's end and its value is the
time from the first byte sent to the last received (connection set-up excluded, as k6 defines it), so the
request started ``value`` before the stamp. Percentiles over these samples are exact.
"""

from __future__ import annotations

import ipaddress
import math
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson

from sk_loadagent.measurements import Outcome, Samples

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_LOOPBACK: list[Network] = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
_ROOTS: list[Network] = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]


def command(binary: str, script: Path, out_file: Path, base_url: str, blocked: Sequence[str]) -> list[str]:
    """``k6 run`` quietly, without its REST API (parallel runs would clash on its port), raw points to
    ``out_file``; the target in ``BASE_URL`` (``__ENV.BASE_URL`` in the script); ``blocked`` refused."""
    blocks = [f"--blacklist-ip={','.join(blocked)}"] if blocked else []
    return [
        binary,
        "run",
        "--quiet",
        "--no-usage-report",
        "--no-summary",
        "--address=",
        "--log-format=json",
        f"--out=json={out_file}",
        f"--env=BASE_URL={base_url}",
        *blocks,
        str(script),
    ]


def blocked_ranges(allow_hosts: Sequence[str]) -> tuple[list[str], str | None]:
    """Every address outside loopback and the allowed hosts' addresses, for k6's ``--blacklist-ip``, so a
    script that names another host is refused by k6 itself; with an allow-list pattern (``*.x``) no range
    can be drawn, and the warning says so."""
    keep = list(_LOOPBACK)
    for host in allow_hosts:
        if "*" in host:
            return [], (
                f"k6: allowHosts pattern {host} cannot be turned into address ranges, so k6 was not kept to "
                "loopback and the allowed hosts (only the target was checked)"
            )
        keep += [ipaddress.ip_network(a) for a in _addresses(host.strip("[]"))]
    return [str(n) for n in _complement(keep)], None


def _addresses(host: str) -> set[str]:
    try:
        return {
            str(i[4][0]).partition("%")[0] for i in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        }
    except (OSError, UnicodeError):
        return set()


def _complement(keep: list[Network]) -> list[Network]:
    """The networks that cover every address except those in ``keep``."""
    remaining = list(_ROOTS)
    for network in keep:
        next_round: list[Network] = []
        for block in remaining:
            if block.version != network.version or not block.overlaps(network):
                next_round.append(block)
            elif not network.supernet_of(block):  # type: ignore[arg-type]
                next_round += list(block.address_exclude(network))  # type: ignore[arg-type]
        remaining = next_round
    return sorted(remaining, key=lambda n: (n.version, n.network_address))


def error_line(stdout: str, stderr: str) -> str:
    """k6's own message for a script that did not run: its last error log line, else its last line."""
    message = None
    for line in stderr.splitlines():
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            message = str(entry.get("msg", "")).strip()
    if message:
        return message
    lines = [x.strip() for x in (stderr + "\n" + stdout).splitlines() if x.strip()]
    return lines[-1] if lines else "(k6 printed nothing)"


# k6's error codes (https://grafana.com/docs/k6/latest/javascript-api/error-codes/) as our outcomes.
def _error_outcome(code: int) -> Outcome:
    if code in (1050, 1211):
        return Outcome.TIMEOUT
    if code == 1212:
        return Outcome.CONNECT_REFUSED
    if code == 1220:
        return Outcome.RESET
    if 1300 <= code < 1400:
        return Outcome.TLS
    if 1100 <= code < 1300:
        return Outcome.CONNECT_ERROR
    return Outcome.PROTOCOL_ERROR


def _outcome(status: int, expected: bool, error_code: int) -> Outcome:
    if status == 0:
        return _error_outcome(error_code)
    if expected:
        return Outcome.OK
    if 400 <= status < 500:
        return Outcome.HTTP_4XX
    if status >= 500:
        return Outcome.HTTP_5XX
    return Outcome.UNEXPECTED_STATUS


@dataclass
class K6Points:
    """What k6's JSON output held: one entry per request (end stamp, duration), plus run-level counts."""

    end: list[float] = field(default_factory=list)  # epoch seconds
    seconds: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    outcome: list[int] = field(default_factory=list)
    dropped: int = 0
    max_vus: int = 0
    bytes_in: float = 0.0
    bytes_out: float = 0.0
    _clock: dict[str, float] = field(default_factory=dict)

    def samples(self, t0: float) -> Samples:
        """The requests as samples timed from ``t0`` (epoch seconds), in start order; a request without a
        response has no latency (NaN), as in the engine; bytes are k6's per-iteration totals spread evenly."""
        n = len(self.end)
        seconds = np.asarray(self.seconds, dtype=np.float64)
        status = np.asarray(self.status, dtype=np.int16)
        latency = np.where(status > 0, seconds, np.nan)
        samples = Samples(
            start=np.asarray(self.end, dtype=np.float64) - seconds - t0,
            latency=latency,
            service=latency.copy(),
            status=status,
            outcome=np.asarray(self.outcome, dtype=np.int8),
            bytes_in=_spread(self.bytes_in, n),
            bytes_out=_spread(self.bytes_out, n),
            variant=np.zeros(n, dtype=np.int16),
        )
        return samples.select(np.argsort(samples.start, kind="stable"))

    def read(self, path: Path) -> None:
        if not path.is_file():
            return
        with path.open("rb") as lines:
            for line in lines:
                head = line[:48]
                if b'"Point"' not in line[:80]:
                    continue
                if b'"http_req_duration"' in head:
                    self._request(orjson.loads(line)["data"])
                elif b'"dropped_iterations"' in head:
                    self.dropped += int(orjson.loads(line)["data"]["value"])
                elif b'"vus"' in head:
                    self.max_vus = max(self.max_vus, int(orjson.loads(line)["data"]["value"]))
                elif b'"data_received"' in head:
                    self.bytes_in += float(orjson.loads(line)["data"]["value"])
                elif b'"data_sent"' in head:
                    self.bytes_out += float(orjson.loads(line)["data"]["value"])

    def _request(self, data: dict[str, object]) -> None:
        tags = data.get("tags")
        tags = tags if isinstance(tags, dict) else {}
        status = int(str(tags.get("status") or 0))
        code = int(str(tags.get("error_code") or 0))
        expected = str(tags.get("expected_response", "true")) == "true"
        self.end.append(self._epoch(str(data["time"])))
        self.seconds.append(float(str(data["value"])) / 1000.0)
        self.status.append(status)
        self.outcome.append(int(_outcome(status, expected, code)))

    def _epoch(self, stamp: str) -> float:
        """RFC 3339 with up to nine fraction digits (datetime reads six): the whole seconds are parsed once
        per second and cached, the fraction added as a number."""
        whole, dot, rest = stamp.partition(".")
        if not dot:
            return datetime.fromisoformat(stamp).timestamp()
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, zone = rest[:digits], rest[digits:]
        key = whole + zone
        base = self._clock.get(key)
        if base is None:
            base = self._clock[key] = datetime.fromisoformat(whole + (zone or "Z")).timestamp()
        return base + (float(f"0.{fraction}") if fraction else 0.0)


def _spread(total: float, n: int) -> np.ndarray:  # type: ignore[type-arg]
    if n == 0 or not math.isfinite(total):
        return np.zeros(n, dtype=np.int64)
    share = np.full(n, int(total) // n, dtype=np.int64)
    share[: int(total) % n] += 1
    return share
