"""Request templates built once per run (prebuilt HTTP/1.1 bytes), latency-test bodies, status outcomes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from sk_loadagent.engine.result import Outcome

USER_AGENT = "sk-loadagent/0.1"
_PAD_FIELD = "pad"


@dataclass(frozen=True)
class Target:
    """Where requests go: scheme, host (no brackets), port and the request target (path + query)."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def from_url(cls, url: str) -> Target:
        parts = urlsplit(url)
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(scheme, parts.hostname or "", port, path)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class RequestTemplate:
    """One request variant: the test's headers (Host, User-Agent, Content-Length are added) and body."""

    method: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def http11_bytes(self, target: Target) -> bytes:
        """The exact bytes the fast transport writes for this request."""
        lines = [f"{self.method} {target.path} HTTP/1.1"]
        names = {name.lower() for name, _ in self.headers}
        if "host" not in names:
            lines.append(f"Host: {target.host_header}")
        if "user-agent" not in names:
            lines.append(f"User-Agent: {USER_AGENT}")
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + self.body


def padded_json(size: int, base: object = None) -> bytes:
    """A JSON document of exactly ``size`` bytes (empty for 0): ``base`` (a dict) plus a padding field."""
    if size == 0:
        return b""
    fields = dict(base) if isinstance(base, dict) else {}
    fields[_PAD_FIELD] = ""
    skeleton = json.dumps(fields, separators=(",", ":")).encode()
    if len(skeleton) <= size:
        fields[_PAD_FIELD] = "x" * (size - len(skeleton))
        return json.dumps(fields, separators=(",", ":")).encode()
    # Too small for an object: leading whitespace before a one-digit number is still valid JSON.
    return b" " * (size - 1) + b"0"


def build_templates(
    method: str, headers: dict[str, str], body: str | None, payload_sizes: Sequence[int]
) -> list[RequestTemplate]:
    """One template per payload size (latency tests), else a single template with the test's body."""
    pairs = tuple(headers.items())
    if not payload_sizes:
        return [RequestTemplate(method, pairs, (body or "").encode())]
    base = _json_object(body)
    names = {name.lower() for name in headers}
    if "content-type" not in names:
        pairs += (("Content-Type", "application/json"),)
    return [RequestTemplate(method, pairs, padded_json(size, base)) for size in payload_sizes]


def _json_object(body: str | None) -> object:
    if not body or not body.lstrip().startswith("{"):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def outcome_table(expect_status: Sequence[int] | None) -> npt.NDArray[np.int8]:
    """Outcome per status code 0..599. Default: 2xx/3xx OK; with a list, only the listed codes are OK."""
    table = np.full(600, Outcome.UNEXPECTED_STATUS, dtype=np.int8)
    table[400:500] = Outcome.HTTP_4XX
    table[500:600] = Outcome.HTTP_5XX
    if expect_status is None:
        table[200:400] = Outcome.OK
    else:
        table[np.asarray(list(expect_status), dtype=np.intp)] = Outcome.OK
    return table
