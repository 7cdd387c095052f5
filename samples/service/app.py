"""The vet-clinic sample service: a small real HTTP service with knobs, to aim sk-loadagent at.

Three business endpoints (any method, JSON in and out), one per module of the ConnectSoft vet-clinic SaaS:
``/checkout/submit`` (CheckoutService), ``/appointments/book`` (AppointmentsService) and
``/notifications/send`` (NotificationService); a shopping journey for flow tests (POST, JSON): ``/auth/login``
(``{"user": "u1", "password": "pw-u1"}``: the password is ``pw-`` and the user name, as in
``samples/vetclinic/users.csv``; answers ``{"token": ...}``, 401 otherwise), ``/cart/items`` (``{"sku": "A1",
"quantity": 1}``: answers 201 with the cart's items) and ``/cart/submit`` (answers the order), both of which
need ``Authorization: Bearer <token>`` and answer 401 without a token the service issued; plus ``/health``
(no knobs applied), ``/openapi.json``
(``samples/vetclinic/generated.api.yaml`` as JSON) and the admin endpoints ``/admin/config`` (GET the knobs;
PUT or POST a JSON object to change some of them at run time), ``/admin/stats`` and ``/admin/reset``.

Knobs (command-line flags, or the admin endpoint; every knob but the three global ones can be overridden per
endpoint: ``{"endpoints": {"/checkout/submit": {"latencyMs": 20}}}``, where ``null`` removes an override):

- ``latencyMs`` median service time (default 20); ``jitter`` the sigma of the lognormal factor around it
  (default 0.3; RNG seeded by ``--seed``); asyncio timers add about 1 ms to every sleep;
- ``errorRate`` the fraction answered 500; ``release`` ``stable`` or ``slow`` (slow multiplies the service
  time by ``slowFactor``, default 3);
- ``capacity`` the number of requests one endpoint serves at a time (default 16; the rest wait in FIFO
  order, so capacity C and mean service time S cap throughput at C/S: about 730 rps with the defaults,
  250 rps with the slow release); ``queueLimit`` how many may wait before the endpoint answers 503 at
  once; ``null`` means unlimited for both (on the command line: ``--config '{"capacity": null}'``);
- ``leakKbPerRequest`` memory retained per request (capped at 512 MiB per process);
- ``responseBytes`` the size the JSON response body is padded to (it always echoes ``requestBytes``);
- global: ``freezeEverySeconds`` + ``freezeSeconds``: the process answers nothing during the last
  ``freezeSeconds`` of every ``freezeEverySeconds`` (counted from when the knobs were set), as a
  stop-the-world pause would; ``coldStartSeconds``: the service is 5x slower for that long after start (or
  after the knob is set).

Surfaces beyond HTTP (the ``surface:`` tests of sk-loadagent), each taking the service time of
``/notifications/send`` (so the slow release slows them too):

- ``/ws/notifications`` (WebSocket, when the ``websockets`` package is installed): each JSON message is
  answered after one service time with the message itself plus ``"status": "delivered"`` (so ``$.id``
  correlates); after ``{"op": "subscribe"}`` the feed also pushes ``{"kind": "reminder", "ts": <epoch ms>}``
  every 100 ms;
- ``POST /notifications/webhook`` with ``{"callback": "http://127.0.0.1:.../..."}``: answers 202, then POSTs
  ``{"delivered": true}`` to the callback after one service time (a loopback callback only);
- ``POST /reports``: answers 202 with ``{"id": "rpt-000001"}``; ``GET /reports/<id>`` says ``running``
  until ten service times have passed, then ``done``;
- ``notification_worker.py`` beside this file: a RabbitMQ worker for ``vetclinic.notifications.in`` that
  follows these knobs (read from ``/admin/config``).

Run: ``python samples/service/app.py --host 127.0.0.1 --port 0 [--latency-ms 20 --release slow ...]``. It
listens on loopback only, never on the machine's service ports, prints ``READY http://127.0.0.1:<port>
pid=<pid>`` once it accepts connections and exits with status 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import ipaddress
import json
import math
import os
import random
import secrets
import signal
import socket
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import httpx  # sk-loadagent's own dependency: the webhook sender's client
import yaml

try:
    import uvicorn
except ImportError:  # the launcher checks this before starting us; this is for running the file by hand
    print("the sample service needs uvicorn: pip install 'sk-loadagent[samples]'", file=sys.stderr)
    raise SystemExit(2) from None

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SERVICE_PORTS: dict[int, str] = {
    5432: "PostgreSQL",
    3306: "MySQL",
    6379: "Redis",
    5672: "RabbitMQ (AMQP)",
    15672: "RabbitMQ management",
    1883: "MQTT",
    4222: "NATS",
    8222: "NATS monitoring",
}
BUSINESS_ROUTES: dict[str, tuple[str, str]] = {
    "/checkout/submit": ("CheckoutService", "chk"),
    "/appointments/book": ("AppointmentsService", "apt"),
    "/notifications/send": ("NotificationService", "ntf"),
    "/auth/login": ("CheckoutService", "ses"),
    "/cart/items": ("CheckoutService", "crt"),
    "/cart/submit": ("CheckoutService", "ord"),
}
JOURNEY_ROUTES = ("/auth/login", "/cart/items", "/cart/submit")
MAX_SESSIONS = 100_000  # the oldest sessions are forgotten beyond this (a long run's memory stays bounded)
MAX_CART_ITEMS = 100
OPERATION_ROUTES = ("/health", "/openapi.json", "/admin/config", "/admin/stats", "/admin/reset", "/metrics")
SURFACE_ROUTES = ("/ws/notifications", "/notifications/webhook", "/reports")
SURFACE_KNOBS = "/notifications/send"  # the surfaces take this endpoint's service time
REPORT_SERVICE_TIMES = 10
PUSH_EVERY_S = 0.1
MAX_REPORTS = 100_000
# The internal steps of a request and their shares of the stable service time; the slow release's extra time
# all goes to the step marked slow (ChargeCard at checkout), so one internal span slows and the rest do not.
STEPS: dict[str, tuple[tuple[str, float, bool], ...]] = {
    "/checkout/submit": (
        ("ValidateCart", 0.45, False),
        ("ChargeCard", 0.20, True),
        ("SendConfirmationEmail", 0.35, False),
    ),
}
DEFAULT_STEPS = (("HandleRequest", 1.0, True),)
OPENAPI_PATH = Path(__file__).resolve().parents[1] / "vetclinic" / "generated.api.yaml"
COLD_START_FACTOR = 5.0
LEAK_CAP_BYTES = 512 * 2**20
MAX_ADMIN_BODY = 64 * 1024
MAX_RESPONSE_BYTES = 16 * 2**20


# ---------------------------------------------------------------------------------------------- knobs


@dataclass(frozen=True)
class KnobProblem:
    """A rejected knob: its path (``endpoints./checkout/submit.latencyMs``), what it accepts, what it got."""

    field: str
    expected: str
    got: str | None

    def to_wire(self) -> dict[str, str | None]:
        return {"field": self.field, "expected": self.expected, "got": self.got}

    def describe(self) -> str:
        text = f"{self.field}: expected {self.expected}"
        return text if self.got is None else f"{text}, got {self.got}"


class KnobError(ValueError):
    def __init__(self, problems: list[KnobProblem]) -> None:
        super().__init__("; ".join(p.describe() for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Knob:
    """A knob's wire name, default, accepted values and whether an endpoint may override it."""

    name: str
    default: Any
    help: str
    kind: type[float] | type[int] | type[str] = float
    low: float = 0.0
    high: float = math.inf
    nullable: bool = False
    choices: tuple[str, ...] = ()
    per_endpoint: bool = True

    @property
    def flag(self) -> str:
        return "--" + "".join(f"-{c.lower()}" if c.isupper() else c for c in self.name)

    @property
    def expected(self) -> str:
        if self.choices:
            return " or ".join(repr(c) for c in self.choices)
        noun = "an integer" if self.kind is int else "a number"
        text = (
            f"{noun} ≥ {_num(self.low)}"
            if math.isinf(self.high)
            else f"{noun} from {_num(self.low)} to {_num(self.high)}"
        )
        return f"{text} or null (unlimited)" if self.nullable else text

    def check(self, value: object) -> Any:
        """The value if this knob accepts it; raises ValueError (with ``expected``) otherwise."""
        if value is None and self.nullable:
            return None
        if self.choices:
            if value not in self.choices:
                raise ValueError(self.expected)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(self.expected)
        if not self.low <= value <= self.high or (self.kind is int and not float(value).is_integer()):
            raise ValueError(self.expected)
        return int(value) if self.kind is int else float(value)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


KNOBS: dict[str, Knob] = {
    k.name: k
    for k in (
        Knob("latencyMs", 20.0, "median service time in milliseconds", high=3_600_000),
        Knob("jitter", 0.3, "sigma of the lognormal factor around latencyMs", high=3),
        Knob("errorRate", 0.0, "fraction of requests answered 500", high=1),
        Knob("release", "stable", "slow multiplies latency by slowFactor", str, choices=("stable", "slow")),
        Knob("slowFactor", 3.0, "latency multiplier of the slow release", high=1000),
        Knob("capacity", 16, "requests one endpoint serves at a time", int, low=1, nullable=True),
        Knob("queueLimit", None, "requests that may wait for a slot before a 503", int, nullable=True),
        Knob("leakKbPerRequest", 0.0, "KiB of memory retained per request", high=65536),
        Knob("responseBytes", 0, "pad response bodies to this many bytes", int, high=MAX_RESPONSE_BYTES),
        Knob("freezeEverySeconds", 0.0, "period of the freezes (0: none)", high=86400, per_endpoint=False),
        Knob("freezeSeconds", 0.0, "length of each freeze in seconds", high=86400, per_endpoint=False),
        Knob("coldStartSeconds", 0.0, "5x slower for this long after start", high=86400, per_endpoint=False),
    )
}


def _got(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Settings:
    """Every knob's value and the per-endpoint overrides, as they are written on the wire."""

    knobs: dict[str, Any]
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def defaults(cls) -> Settings:
        return cls({k.name: k.default for k in KNOBS.values()})

    def to_wire(self) -> dict[str, Any]:
        return {**self.knobs, "endpoints": {path: dict(o) for path, o in self.endpoints.items()}}

    def merged(self, patch: object) -> Settings:
        """These settings with a patch applied; raises KnobError naming every rejected knob."""
        if not isinstance(patch, Mapping):
            raise KnobError(
                [KnobProblem("", 'a JSON object of knobs, such as {"latencyMs": 20}', _got(patch))]
            )
        problems: list[KnobProblem] = []
        knobs = dict(self.knobs)
        endpoints = {path: dict(o) for path, o in self.endpoints.items()}
        for name, value in patch.items():
            if name == "endpoints":
                self._merge_endpoints(value, endpoints, problems)
            elif name not in KNOBS:
                problems.append(KnobProblem(name, f"a known knob ({', '.join([*KNOBS, 'endpoints'])})", None))
            else:
                try:
                    knobs[name] = KNOBS[name].check(value)
                except ValueError as exc:
                    problems.append(KnobProblem(name, str(exc), _got(value)))
        every, length = knobs["freezeEverySeconds"], knobs["freezeSeconds"]
        if not problems and length > 0 and not 0 < length < every:
            problems.append(
                KnobProblem(
                    "freezeSeconds",
                    f"less than freezeEverySeconds ({every:g}), which must be set",
                    _got(length),
                )
            )
        if problems:
            raise KnobError(problems)
        return Settings(knobs, {path: o for path, o in endpoints.items() if o})

    @staticmethod
    def _merge_endpoints(
        value: object, endpoints: dict[str, dict[str, Any]], problems: list[KnobProblem]
    ) -> None:
        if not isinstance(value, Mapping):
            problems.append(KnobProblem("endpoints", "an object keyed by endpoint path", _got(value)))
            return
        for path, overrides in value.items():
            where = f"endpoints.{path}"
            if path not in BUSINESS_ROUTES:
                problems.append(KnobProblem(where, f"one of {', '.join(BUSINESS_ROUTES)}", None))
            elif overrides is None:
                endpoints.pop(path, None)
            elif not isinstance(overrides, Mapping):
                problems.append(KnobProblem(where, "an object of knobs", _got(overrides)))
            else:
                Settings._merge_overrides(where, overrides, endpoints.setdefault(path, {}), problems)

    @staticmethod
    def _merge_overrides(
        where: str, overrides: Mapping[str, object], current: dict[str, Any], problems: list[KnobProblem]
    ) -> None:
        for name, value in overrides.items():
            knob = KNOBS.get(name)
            if knob is None or not knob.per_endpoint:
                allowed = ", ".join(k.name for k in KNOBS.values() if k.per_endpoint)
                problems.append(KnobProblem(f"{where}.{name}", f"a per-endpoint knob ({allowed})", None))
            elif value is None:
                current.pop(name, None)
            else:
                try:
                    current[name] = knob.check(value)
                except ValueError as exc:
                    problems.append(KnobProblem(f"{where}.{name}", str(exc), _got(value)))

    def for_endpoint(self, path: str) -> EndpointKnobs:
        k = {**self.knobs, **self.endpoints.get(path, {})}
        factor = k["slowFactor"] if k["release"] == "slow" else 1.0
        return EndpointKnobs(
            latency_s=k["latencyMs"] * factor / 1000.0,
            jitter=k["jitter"],
            error_rate=k["errorRate"],
            capacity=k["capacity"],
            queue_limit=k["queueLimit"],
            leak_bytes=int(k["leakKbPerRequest"] * 1024),
            response_bytes=k["responseBytes"],
            release=k["release"],
            slow_factor=factor,
        )


@dataclass(frozen=True)
class EndpointKnobs:
    """The knobs one endpoint runs with, resolved once per change rather than once per request."""

    latency_s: float
    jitter: float
    error_rate: float
    capacity: int | None
    queue_limit: int | None
    leak_bytes: int
    response_bytes: int
    release: str
    slow_factor: float = 1.0


@dataclass(frozen=True)
class FreezeSchedule:
    """Windows ``[origin + n*every - length, origin + n*every)``, n = 1, 2, …: the service runs for
    ``every - length`` seconds, then answers nothing for ``length`` seconds, and so on."""

    every: float
    length: float
    origin: float

    def window_end(self, now: float) -> float | None:
        """The end of the freeze window containing ``now`` (monotonic seconds), None outside every window."""
        if self.length <= 0 or self.every <= 0:
            return None
        phase = (now - self.origin) % self.every
        return None if phase < self.every - self.length else now + (self.every - phase)


# ---------------------------------------------------------------------------------------------- capacity


@dataclass
class EndpointStats:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    rejected: int = 0
    active: int = 0
    max_active: int = 0
    max_queued: int = 0

    def to_wire(self, queued: int) -> dict[str, int]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "rejected": self.rejected,
            "active": self.active,
            "queued": queued,
            "maxActive": self.max_active,
            "maxQueued": self.max_queued,
        }


class Gate:
    """Lets at most ``capacity`` requests of one endpoint be served at once; the rest wait in FIFO order.

    A leaving request hands its slot straight to the oldest waiter, so no newcomer overtakes the queue.
    """

    def __init__(self, stats: EndpointStats) -> None:
        self.stats = stats
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def enter(self, capacity: int | None, queue_limit: int | None) -> bool:
        """Take a slot, waiting for one if needed; False when the queue is full (answer 503 at once)."""
        if capacity is None or (self.stats.active < capacity and not self.waiters):
            self._admit()
            return True
        if queue_limit is not None and len(self.waiters) >= queue_limit:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self.stats.max_queued = max(self.stats.max_queued, len(self.waiters))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave(capacity)  # the slot was handed over as we were cancelled: pass it on
            elif waiter in self.waiters:  # wake() may have dropped it already
                self.waiters.remove(waiter)
            raise
        return True

    def leave(self, capacity: int | None) -> None:
        self.stats.active -= 1
        self.wake(capacity)

    def wake(self, capacity: int | None) -> None:
        """Admit waiters while there is room (after a request left or the capacity grew)."""
        while self.waiters and (capacity is None or self.stats.active < capacity):
            waiter = self.waiters.popleft()
            if not waiter.done():
                self._admit()
                waiter.set_result(None)

    def _admit(self) -> None:
        self.stats.active += 1
        self.stats.max_active = max(self.stats.max_active, self.stats.active)


# ---------------------------------------------------------------------------------------------- journey


class Journey:
    """Sessions of the shopping journey: a login issues a token; the cart routes need one it issued."""

    def __init__(self) -> None:
        self.sessions: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()  # token -> cart items

    def refusal(
        self, path: str, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, dict[str, Any]] | None:
        """The answer when the request may not go on (401, or 400 for a body that is no JSON object), else
        None. Checked before the service time, as a gateway would."""
        payload = _json_object(body)
        if payload is None:
            return 400, {"error": "expected a JSON object body", "endpoint": path}
        if path == "/auth/login":
            user, password = payload.get("user"), payload.get("password")
            if not isinstance(user, str) or not user or password != f"pw-{user}":
                return 401, {"error": "unknown user or wrong password", "endpoint": path}
            return None
        if self._token(headers) is None:
            return 401, {"error": "no valid bearer token (log in at /auth/login)", "endpoint": path}
        return None

    def answer(
        self, path: str, headers: dict[bytes, bytes], body: bytes, request_id: str
    ) -> tuple[int, dict[str, Any]]:
        """The status and the route's fields of a request ``refusal`` let through."""
        payload = _json_object(body) or {}
        if path == "/auth/login":
            token = secrets.token_hex(16)
            self.sessions[token] = []
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
            return 200, {"token": token, "user": payload.get("user")}
        token = self._token(headers)
        items = self.sessions.get(token or "", [])
        if path == "/cart/items":
            quantity = payload.get("quantity", 1)
            if len(items) < MAX_CART_ITEMS:
                items.append({"sku": payload.get("sku"), "quantity": quantity})
            return 201, {"items": items}
        order = {"orderId": request_id, "items": len(items)}
        items.clear()
        return 200, order

    def _token(self, headers: dict[bytes, bytes]) -> str | None:
        value = headers.get(b"authorization", b"").decode("latin-1")
        token = value[len("Bearer ") :] if value.startswith("Bearer ") else ""
        return token if token in self.sessions else None


def _json_object(body: bytes) -> dict[str, Any] | None:
    if not body:
        return {}
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------------------------------- the app


def _json_bytes(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    content_type: bytes = b"application/json",
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, keep: int) -> tuple[int, bytes]:
    """The request body's size, and its first ``keep`` bytes (the rest is read and dropped)."""
    size, kept = 0, bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return size, bytes(kept)
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if len(kept) < keep:
            kept += chunk[: keep - len(kept)]
        if not message.get("more_body", False):
            return size, bytes(kept)


def _padded(body: bytes, size: int) -> bytes:
    """A JSON object body padded with a ``padding`` member to exactly ``size`` bytes when it is smaller."""
    room = size - len(body) - len(b',"padding":""')
    return body if room < 0 else body[:-1] + b',"padding":"' + b"x" * room + b'"}'


class SampleApp:
    """The ASGI application. One instance per process; every request runs on the event loop."""

    def __init__(
        self, settings: Settings, *, seed: int | None, openapi: dict[str, Any] | None, parent_pid: int | None
    ) -> None:
        self.started_at = time.monotonic()
        self.initial = settings
        self.latency_rng = random.Random(seed)
        self.error_rng = random.Random(None if seed is None else seed + 1)
        self.openapi = openapi
        self.parent_pid = parent_pid
        self.stats = {path: EndpointStats() for path in BUSINESS_ROUTES}
        self.gates = {path: Gate(self.stats[path]) for path in BUSINESS_ROUTES}
        self.counter = 0
        self.journey = Journey()
        self.leak: list[bytes] = []
        self.leaked_bytes = 0
        self.leak_capped = False
        self.watchdog: asyncio.Task[None] | None = None
        self.reports: dict[str, float] = {}  # id -> when it is done (monotonic)
        self.background: set[asyncio.Task[None]] = set()
        self.callbacks: httpx.AsyncClient | None = None  # made when the first webhook is asked for
        self._apply(settings, set(KNOBS), now=self.started_at)
        self.telemetry = Telemetry(self)

    def _apply(self, settings: Settings, changed: set[str], *, now: float) -> None:
        """Switch to new settings; the freeze and cold-start clocks restart when their knobs are set."""
        self.settings: Settings = settings
        self.resolved = {path: settings.for_endpoint(path) for path in BUSINESS_ROUTES}
        k = settings.knobs
        if changed & {"freezeEverySeconds", "freezeSeconds"}:
            self.freeze = FreezeSchedule(k["freezeEverySeconds"], k["freezeSeconds"], now)
        if "coldStartSeconds" in changed:
            self.cold_until: float = now + k["coldStartSeconds"]
        for path, gate in self.gates.items():
            gate.wake(self.resolved[path].capacity)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await self._feed(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path == "/notifications/webhook" and method == "POST":
            await self._webhook(receive, send)
        elif path == "/reports" and method == "POST":
            await self._submit_report(receive, send)
        elif path.startswith("/reports/") and method in ("GET", "HEAD"):
            await self._report_status(path.removeprefix("/reports/"), send)
        elif path in BUSINESS_ROUTES:
            await self._business(path, receive, send, dict(scope.get("headers") or []))
        elif path == "/health":
            await self._read_only(method, send, lambda: {"status": "ok", "uptimeSeconds": self._uptime()})
        elif path == "/openapi.json":
            await self._openapi(method, send)
        elif path == "/admin/config":
            await self._config(method, receive, send)
        elif path == "/admin/stats":
            await self._read_only(method, send, self._stats)
        elif path == "/admin/reset":
            await self._reset(method, send)
        elif path == "/metrics":
            await self._metrics(method, send)
        else:
            body = {"error": f"no route {path}", "routes": [*BUSINESS_ROUTES, *OPERATION_ROUTES]}
            await _respond(send, 404, _json_bytes(body))

    # ---- business endpoints

    async def _business(self, path: str, receive: Receive, send: Send, headers: dict[bytes, bytes]) -> None:
        keep = MAX_ADMIN_BODY if path in JOURNEY_ROUTES else 0
        request_bytes, body = await _read_body(receive, keep=keep)
        stats, gate = self.stats[path], self.gates[path]
        stats.requests += 1
        refused = self.journey.refusal(path, headers, body) if path in JOURNEY_ROUTES else None
        if refused is not None:
            stats.errors += 1
            await _respond(send, refused[0], _json_bytes(refused[1]))
            return
        await self._wait_out_freeze()
        knobs = self.resolved[path]
        if not await gate.enter(knobs.capacity, knobs.queue_limit):
            stats.rejected += 1
            body = {"error": "over capacity", "endpoint": path, "queueLimit": knobs.queue_limit}
            await _respond(send, 503, _json_bytes(body), [(b"retry-after", b"1")])
            return
        try:
            knobs = self.resolved[path]  # the knobs may have changed while this request queued
            service_s = self._service_time(knobs)
            failed = self.error_rng.random() < knobs.error_rate
            await self.telemetry.serve(path, headers, request_steps(path, knobs, service_s))
            self._retain(knobs.leak_bytes)
            await self._wait_out_freeze()
        finally:
            gate.leave(self.resolved[path].capacity)
        service, prefix = BUSINESS_ROUTES[path]
        header = [(b"x-service-time-ms", f"{service_s * 1000:.3f}".encode())]
        if failed:
            stats.errors += 1
            error = {
                "error": "injected failure",
                "service": service,
                "endpoint": path,
                "errorRate": knobs.error_rate,
            }
            self.telemetry.answered(path, 500, service_s)
            await _respond(send, 500, _padded(_json_bytes(error), knobs.response_bytes), header)
            return
        stats.ok += 1
        self.counter += 1
        reply = {
            "id": f"{prefix}-{self.counter:06d}",
            "service": service,
            "endpoint": path,
            "status": "accepted",
            "release": knobs.release,
            "requestBytes": request_bytes,
        }
        status = 200
        if path in JOURNEY_ROUTES:
            status, extra = self.journey.answer(path, headers, body, reply["id"])
            reply.update(extra)
        self.telemetry.answered(path, status, service_s)
        await _respond(send, status, _padded(_json_bytes(reply), knobs.response_bytes), header)

    def _service_time(self, knobs: EndpointKnobs) -> float:
        seconds = knobs.latency_s
        if knobs.jitter > 0 and seconds > 0:
            seconds *= math.exp(knobs.jitter * self.latency_rng.gauss(0.0, 1.0))
        if time.monotonic() < self.cold_until:
            seconds *= COLD_START_FACTOR
        return seconds

    async def _wait_out_freeze(self) -> None:
        # Loop: a timer may fire a fraction of a millisecond before the window's end.
        while (end := self.freeze.window_end(time.monotonic())) is not None:
            await asyncio.sleep(end - time.monotonic())

    def _retain(self, size: int) -> None:
        if size <= 0:
            return
        if self.leaked_bytes + size > LEAK_CAP_BYTES:
            self.leak_capped = True
            return
        self.leak.append(b"\xa5" * size)  # written, not calloc'ed: the pages count in RSS at once
        self.leaked_bytes += size

    # ---- surfaces beyond HTTP

    async def _surface_time(self) -> float:
        """One service time of the surfaces (``/notifications/send``'s knobs), freezes waited out."""
        await self._wait_out_freeze()
        return self._service_time(self.resolved[SURFACE_KNOBS])

    async def _feed(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != "/ws/notifications":
            await send({"type": "websocket.close", "code": 1008})
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        pushing: asyncio.Task[None] | None = None
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")
                request = _json_object(text.encode())
                if request is None:
                    continue
                if request.get("op") == "subscribe":
                    if pushing is None:
                        pushing = asyncio.create_task(self._push(send))
                    continue
                await asyncio.sleep(await self._surface_time())
                reply = {**request, "status": "delivered", "release": self.resolved[SURFACE_KNOBS].release}
                await send({"type": "websocket.send", "text": json.dumps(reply)})
        finally:
            if pushing is not None:
                pushing.cancel()

    @staticmethod
    async def _push(send: Send) -> None:
        with contextlib.suppress(Exception):  # the session closed
            while True:
                await asyncio.sleep(PUSH_EVERY_S)
                reminder = {"kind": "reminder", "ts": round(time.time() * 1000, 3)}
                await send({"type": "websocket.send", "text": json.dumps(reminder)})

    async def _webhook(self, receive: Receive, send: Send) -> None:
        _, raw = await _read_body(receive, keep=MAX_ADMIN_BODY)
        request = _json_object(raw) or {}
        callback = request.get("callback")
        host = urlsplit(callback).hostname if isinstance(callback, str) else None
        if host not in ("127.0.0.1", "::1", "localhost"):
            body = {"error": "callback: expected a loopback http:// URL", "got": callback}
            await _respond(send, 400, _json_bytes(body))
            return
        task = asyncio.create_task(self._deliver(str(callback)))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        await _respond(send, 202, _json_bytes({"accepted": True}))

    async def _deliver(self, callback: str) -> None:
        await asyncio.sleep(await self._surface_time())
        if self.callbacks is None:
            self.callbacks = httpx.AsyncClient(timeout=5.0, trust_env=False)
        with contextlib.suppress(httpx.HTTPError):
            await self.callbacks.post(callback, json={"delivered": True})

    async def _submit_report(self, receive: Receive, send: Send) -> None:
        await _read_body(receive, keep=0)
        self.counter += 1
        report = f"rpt-{self.counter:06d}"
        if len(self.reports) >= MAX_REPORTS:
            self.reports.pop(next(iter(self.reports)))
        service_s = await self._surface_time()
        self.reports[report] = time.monotonic() + REPORT_SERVICE_TIMES * service_s
        await _respond(send, 202, _json_bytes({"id": report, "status": "running"}))

    async def _report_status(self, report: str, send: Send) -> None:
        done_at = self.reports.get(report)
        if done_at is None:
            await _respond(send, 404, _json_bytes({"error": f"no report {report}"}))
            return
        status = "done" if time.monotonic() >= done_at else "running"
        await _respond(send, 200, _json_bytes({"id": report, "status": status}))

    # ---- the other endpoints

    def _uptime(self) -> float:
        return round(time.monotonic() - self.started_at, 3)

    async def _read_only(self, method: str, send: Send, payload: Callable[[], object]) -> None:
        if method not in ("GET", "HEAD"):
            await self._not_allowed(send, method, "GET, HEAD")
            return
        await _respond(send, 200, _json_bytes(payload()))

    async def _metrics(self, method: str, send: Send) -> None:
        if method not in ("GET", "HEAD"):
            await self._not_allowed(send, method, "GET, HEAD")
            return
        exposition = self.telemetry.exposition()
        if exposition is None:
            await _respond(send, 404, _json_bytes({"error": "/metrics needs prometheus-client"}))
            return
        body, content_type = exposition
        await _respond(send, 200, body, content_type=content_type.encode())

    async def _openapi(self, method: str, send: Send) -> None:
        if self.openapi is None:
            await _respond(send, 404, _json_bytes({"error": f"no OpenAPI document at {OPENAPI_PATH}"}))
            return
        await self._read_only(method, send, lambda: self.openapi)

    async def _config(self, method: str, receive: Receive, send: Send) -> None:
        if method in ("GET", "HEAD"):
            await _respond(send, 200, _json_bytes(self.settings.to_wire()))
            return
        if method not in ("PUT", "POST"):
            await self._not_allowed(send, method, "GET, HEAD, PUT, POST")
            return
        size, raw = await _read_body(receive, keep=MAX_ADMIN_BODY)
        try:
            if size > MAX_ADMIN_BODY:
                raise KnobError(
                    [KnobProblem("", f"a body of at most {MAX_ADMIN_BODY} bytes", f"{size} bytes")]
                )
            try:
                patch = json.loads(raw)
            except ValueError:
                raise KnobError(
                    [KnobProblem("", "a JSON object of knobs", _got(raw.decode(errors="replace")))]
                ) from None
            settings = self.settings.merged(patch)
        except KnobError as exc:
            body = {"error": f"rejected knobs: {exc}", "problems": [p.to_wire() for p in exc.problems]}
            await _respond(send, 400, _json_bytes(body))
            return
        self._apply(settings, set(patch), now=time.monotonic())
        await _respond(send, 200, _json_bytes(settings.to_wire()))

    async def _reset(self, method: str, send: Send) -> None:
        if method not in ("POST", "PUT"):
            await self._not_allowed(send, method, "POST, PUT")
            return
        self._apply(self.initial, set(KNOBS), now=time.monotonic())
        await _respond(send, 200, _json_bytes(self.settings.to_wire()))

    def _stats(self) -> dict[str, Any]:
        return {
            "clock": "CLOCK_MONOTONIC seconds (Python time.monotonic)",
            "startedAt": self.started_at,
            "uptimeSeconds": self._uptime(),
            "freezeOrigin": self.freeze.origin,
            "coldStartUntil": self.cold_until,
            "leakedKb": self.leaked_bytes / 1024,
            "leakCapped": self.leak_capped,
            "endpoints": {path: s.to_wire(len(self.gates[path].waiters)) for path, s in self.stats.items()},
        }

    @staticmethod
    async def _not_allowed(send: Send, method: str, allowed: str) -> None:
        body = _json_bytes({"error": f"method {method} not allowed", "allow": allowed})
        await _respond(send, 405, body, [(b"allow", allowed.encode())])

    # ---- lifespan

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.parent_pid is not None:
                    self.watchdog = asyncio.create_task(self._exit_with_parent(self.parent_pid))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.watchdog is not None:
                    self.watchdog.cancel()
                await asyncio.to_thread(self.telemetry.shutdown)
                if self.callbacks is not None:
                    await self.callbacks.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _exit_with_parent(parent_pid: int) -> None:
        """Stop (as on SIGTERM) once the process that started us is gone: a crashed test leaves no server."""
        while os.getppid() == parent_pid:
            await asyncio.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)


# --------------------------------------------------------------------------------------------- telemetry


class Telemetry:
    """Spans (the OpenTelemetry SDK, exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set) and
    Prometheus metrics at ``/metrics`` (prometheus-client: its ``process_*`` and ``python_gc_*`` series plus
    the requests, service time and queue depth per endpoint). Each part is on when its library is installed.
    """

    def __init__(self, app: SampleApp) -> None:
        self.tracer: Any = None
        self.provider: Any = None
        self.metrics: Any = None
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and importlib.util.find_spec("opentelemetry.sdk"):
            self._start_tracing()
        if importlib.util.find_spec("prometheus_client"):
            self._start_metrics(app)

    def _start_tracing(self) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        service = os.environ.get("OTEL_SERVICE_NAME", "vetclinic")
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("vetclinic.sample")

    def _start_metrics(self, app: SampleApp) -> None:
        import prometheus_client as prom

        registry = prom.REGISTRY
        self.requests = prom.Counter("sample_requests", "business requests answered", ["endpoint", "status"])
        self.service_time = prom.Histogram(
            "sample_service_seconds", "service time of business requests", ["endpoint"]
        )
        queue = prom.Gauge("sample_queue_depth", "requests waiting for a slot, all endpoints")
        queue.set_function(lambda: sum(len(g.waiters) for g in app.gates.values()))
        self.metrics = (prom.generate_latest, registry, prom.CONTENT_TYPE_LATEST)

    def answered(self, path: str, status: int, seconds: float) -> None:
        if self.metrics is not None:
            self.requests.labels(path, str(status)).inc()
            self.service_time.labels(path).observe(seconds)

    def exposition(self) -> tuple[bytes, str] | None:
        if self.metrics is None:
            return None
        generate, registry, content_type = self.metrics
        return bytes(generate(registry)), str(content_type)

    async def serve(self, path: str, headers: dict[bytes, bytes], steps: list[tuple[str, float]]) -> None:
        """Spend the request's service time in its steps: one sleep without tracing, else a span each."""
        if self.tracer is None:
            total = sum(seconds for _, seconds in steps)
            if total > 0:
                await asyncio.sleep(total)
            return
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind

        carrier = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers.items()}
        with self.tracer.start_as_current_span(
            f"POST {path}", context=extract(carrier), kind=SpanKind.SERVER
        ):
            for name, seconds in steps:
                with self.tracer.start_as_current_span(name):
                    if seconds > 0:
                        await asyncio.sleep(seconds)

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # flushes the spans still batched


def request_steps(path: str, knobs: EndpointKnobs, service_s: float) -> list[tuple[str, float]]:
    """The request's service time split over its steps; the slow release's extra time goes to the slow one."""
    steps = STEPS.get(path, DEFAULT_STEPS)
    stable = service_s / knobs.slow_factor
    extra = service_s - stable
    return [(name, stable * share + (extra if slow else 0.0)) for name, share, slow in steps]


# ---------------------------------------------------------------------------------------------- server


class _ReadyServer(uvicorn.Server):
    """A uvicorn server that prints the READY line once its socket accepts connections."""

    def __init__(self, config: uvicorn.Config, url_host: str) -> None:
        super().__init__(config)
        self.url_host = url_host

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            port = self.servers[0].sockets[0].getsockname()[1]
            print(f"READY http://{self.url_host}:{port} pid={os.getpid()}", flush=True)


def loopback_host(host: str) -> tuple[str, str]:
    """The address to bind and its spelling in a URL; raises ValueError for anything but loopback."""
    if host == "localhost":
        return "127.0.0.1", "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"refusing to listen on {host}: the sample service only listens on loopback"
            " (127.0.0.1, ::1 or localhost)"
        )
    text = str(address)
    return text, f"[{text}]" if address.version == 6 else text


def allowed_port(port: int) -> int:
    """The port if the service may bind it; raises ValueError for a service port of this machine."""
    if not 0 <= port <= 65535:
        raise ValueError(f"refusing port {port}: expected 0 (a free port) or a port from 1 to 65535")
    if port in SERVICE_PORTS:
        raise ValueError(
            f"refusing port {port}: it belongs to {SERVICE_PORTS[port]} on this machine;"
            " use --port 0 for a free port"
        )
    return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py", description="The vet-clinic sample service (loopback only).", allow_abbrev=False
    )
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (default), ::1 or localhost")
    parser.add_argument("--port", type=int, default=0, help="0 (default) binds a free port")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latency and error RNGs (default 0)")
    parser.add_argument(
        "--config", help="a JSON object of knobs, e.g. '{\"endpoints\": {...}}', applied after flags"
    )
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process exits")
    for knob in KNOBS.values():
        kwargs: dict[str, Any] = {
            "dest": knob.name,
            "default": None,
            "help": f"{knob.help} (default {knob.default})",
        }
        if knob.choices:
            kwargs["choices"] = knob.choices
        else:
            kwargs["type"] = knob.kind
        parser.add_argument(knob.flag, **kwargs)
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    """The startup settings: defaults, then the knob flags, then --config; raises KnobError."""
    flags = {name: getattr(args, name) for name in KNOBS if getattr(args, name) is not None}
    try:
        settings = Settings.defaults().merged(flags)
    except KnobError as exc:  # name the flag the user typed, not the wire name
        raise _renamed(exc, lambda f: KNOBS[f].flag if f in KNOBS else f) from None
    if args.config is None:
        return settings
    try:
        return settings.merged(json.loads(args.config))
    except ValueError as exc:
        if not isinstance(exc, KnobError):
            exc = KnobError([KnobProblem("", "a JSON object of knobs", f"invalid JSON ({exc})")])
        raise _renamed(exc, lambda f: f"--config {f}".strip()) from None


def _renamed(error: KnobError, rename: Callable[[str], str]) -> KnobError:
    return KnobError([KnobProblem(rename(p.field), p.expected, p.got) for p in error.problems])


def _load_openapi() -> dict[str, Any] | None:
    try:
        document = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        print(f"app.py: warning: /openapi.json disabled: cannot read {OPENAPI_PATH}: {exc}", file=sys.stderr)
        return None
    return document if isinstance(document, dict) else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        bind_host, url_host = loopback_host(args.host)
        port = allowed_port(args.port)
        settings = _settings_from(args)
    except ValueError as exc:  # KnobError is a ValueError too
        print(f"app.py: error: {exc}", file=sys.stderr)
        return 2
    app = SampleApp(
        settings,
        seed=args.seed,
        openapi=_load_openapi(),
        parent_pid=os.getppid() if args.exit_with_parent else None,
    )
    config = uvicorn.Config(
        app,
        host=bind_host,
        port=port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools",
        ws="websockets-sansio" if importlib.util.find_spec("websockets") else "none",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=3,
    )
    server = _ReadyServer(config, url_host)

    # uvicorn re-raises a signal it handled once it has shut down; ours then just asks to stop again, so
    # SIGTERM and SIGINT end the process with status 0 (and a signal before uvicorn starts is not lost).
    def request_exit(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_exit)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
