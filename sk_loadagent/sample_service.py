"""Start the vet-clinic sample service (``samples/service/app.py``) in a child process.

The demo, the CLI and the tests use it the same way::

    async with SampleService(release="stable", latency_ms=20) as svc:
        ...                                   # load svc.url
        await svc.configure_async(release="slow")  # flip the release without a restart

The child runs with this interpreter, listens on a free loopback port and stops when this process does.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypedDict, Unpack

import httpx

from sk_loadagent.errors import InputError, InputProblem, LoadAgentError

READY_TIMEOUT_S = 20.0
STOP_GRACE_S = 5.0
_READY_LINE = re.compile(rb"^READY (http://\S+) pid=(\d+)$", re.MULTILINE)
_POLL_S = 0.01
_STDERR_TAIL = 4000


class SampleServiceError(LoadAgentError):
    """The sample service could not be found, started or stopped."""

    exit_code = 2


class Knobs(TypedDict, total=False):
    """The service's knobs in snake_case (``samples/service/app.py`` documents each one).

    A knob left out keeps its value (the service's default at start); ``None`` sets ``capacity`` or
    ``queueLimit`` to unlimited, and removes an override inside ``endpoints``.
    """

    release: Literal["stable", "slow"]
    latency_ms: float
    jitter: float
    error_rate: float
    slow_factor: float
    capacity: int | None
    queue_limit: int | None
    leak_kb_per_request: float
    response_bytes: int
    freeze_every_seconds: float
    freeze_seconds: float
    cold_start_seconds: float
    endpoints: Mapping[str, Mapping[str, Any] | None]


def samples_dir() -> Path:
    """The ``samples`` folder: ``sk_loadagent/_bundled_samples`` in a wheel, else the source checkout's."""
    return _find_samples(Path(__file__).resolve().parent)


def _find_samples(package_dir: Path) -> Path:
    candidates = (package_dir / "_bundled_samples", package_dir.parent / "samples")
    for candidate in candidates:
        if (candidate / "service" / "app.py").is_file():
            return candidate
    looked = " and ".join(str(c) for c in candidates)
    raise SampleServiceError(f"the sample files are missing: looked for service/app.py in {looked}")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def wire_knobs(knobs: Mapping[str, Any]) -> dict[str, Any]:
    """Knobs with the service's camelCase names (``latency_ms`` → ``latencyMs``), endpoints' overrides too."""
    wire: dict[str, Any] = {}
    for name, value in knobs.items():
        if name == "endpoints" and isinstance(value, Mapping):
            value = {
                path: {_camel(k): v for k, v in o.items()} if isinstance(o, Mapping) else o
                for path, o in value.items()
            }
        wire[_camel(name)] = value
    return wire


def _knob_error(response: httpx.Response) -> InputError:
    try:
        body = response.json()
        problems = [InputProblem(p["field"], p["expected"], p.get("got")) for p in body["problems"]]
    except (ValueError, KeyError, TypeError):
        problems = [
            InputProblem(
                "", "knobs the service accepts", f"HTTP {response.status_code} {response.text[:200]}"
            )
        ]
    return InputError("sample service knobs", problems)


class SampleService:
    """The sample service in a child process: ``url`` and ``pid`` once started, knobs changeable at run time.

    ``otlp_endpoint`` (e.g. ``http://127.0.0.1:4318``) turns on its tracing: spans per request and per
    internal step (ValidateCart, ChargeCard, SendConfirmationEmail at checkout) exported over OTLP/HTTP.

    Use it as a context manager (``with`` or ``async with``) or call ``start()`` / ``stop()``. ``stop()``
    sends SIGTERM, kills after five seconds and always reaps the child.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        ready_timeout: float = READY_TIMEOUT_S,
        otlp_endpoint: str | None = None,
        **knobs: Unpack[Knobs],
    ) -> None:
        self.otlp_endpoint = otlp_endpoint
        self.host = host
        self.port = port
        self.seed = seed
        self.ready_timeout = ready_timeout
        self.knobs: Knobs = knobs
        self._process: subprocess.Popen[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._url: str | None = None

    # ---- lifecycle

    def start(self) -> None:
        """Start the child and wait for its READY line; SampleServiceError (with its stderr) if it fails."""
        if self._process is not None:
            raise SampleServiceError("the sample service is already started")
        if importlib.util.find_spec("uvicorn") is None:
            raise SampleServiceError("the sample service needs uvicorn: pip install 'sk-loadagent[samples]'")
        app = samples_dir() / "service" / "app.py"
        command = [sys.executable, str(app), "--host", self.host, "--port", str(self.port)]
        command += ["--seed", str(self.seed), "--exit-with-parent"]
        if self.knobs:
            command += ["--config", json.dumps(wire_knobs(self.knobs))]
        # Files, not pipes: a child that logs a lot never blocks on a full pipe. Closed by stop().
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._stdout, stderr=self._stderr, env=self._env()
        )
        self._process = process
        try:
            self._url = self._wait_ready(process, self._stdout)
        except BaseException:
            self.stop()
            raise

    def _env(self) -> dict[str, str]:
        """With ``otlp_endpoint``: the OpenTelemetry SDK's standard variables, spans batched for 200 ms, and
        only requests whose traceparent says sampled are traced."""
        env = dict(os.environ)
        if self.otlp_endpoint is not None:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.otlp_endpoint
            env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "200")
            # The load generator decides what is sampled (its traceparent's flags); a request without one
            # (a health check, a client without trace context) is not traced.
            env.setdefault("OTEL_TRACES_SAMPLER", "parentbased_always_off")
        else:
            env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        return env

    def _wait_ready(self, process: subprocess.Popen[bytes], stdout: IO[bytes]) -> str:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            # pread leaves alone the file offset the child writes at.
            match = _READY_LINE.search(os.pread(stdout.fileno(), 4096, 0))
            if match is not None:
                return match.group(1).decode()
            status = process.poll()
            if status is not None:
                problem = f"exited with status {status} before it was ready"
            elif time.monotonic() > deadline:
                problem = f"printed no READY line within {self.ready_timeout:g} s"
            else:
                time.sleep(_POLL_S)
                continue
            raise SampleServiceError(f"the sample service {problem}:\n{self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        size = os.fstat(self._stderr.fileno()).st_size
        start = max(0, size - _STDERR_TAIL)
        text = os.pread(self._stderr.fileno(), size - start, start).decode(errors="replace").strip()
        return text or "(nothing on stderr)"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after five seconds; always reaps. Safe to call more than once."""
        process, self._process, self._url = self._process, None, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (self._stdout, self._stderr):
            if stream is not None:
                stream.close()
        self._stdout = self._stderr = None

    def __enter__(self) -> SampleService:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> SampleService:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # ---- while running

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, as the service printed it."""
        if self._url is None:
            raise SampleServiceError(
                "the sample service is not running: use it in a with block or call start()"
            )
        return self._url

    @property
    def pid(self) -> int:
        if self._process is None:
            raise SampleServiceError(
                "the sample service is not running: use it in a with block or call start()"
            )
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def configure(self, **knobs: Unpack[Knobs]) -> dict[str, Any]:
        """Change knobs at run time; returns every knob now in force. Rejected knobs raise InputError."""
        with httpx.Client(trust_env=False, timeout=10.0) as client:
            response = client.put(f"{self.url}/admin/config", json=wire_knobs(knobs))
        return self._config_from(response)

    async def configure_async(self, **knobs: Unpack[Knobs]) -> dict[str, Any]:
        """``configure`` for async code."""
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
            response = await client.put(f"{self.url}/admin/config", json=wire_knobs(knobs))
        return self._config_from(response)

    @staticmethod
    def _config_from(response: httpx.Response) -> dict[str, Any]:
        if response.status_code == 400:
            raise _knob_error(response)
        response.raise_for_status()
        config: dict[str, Any] = response.json()
        return config


class _SampleChild:
    """A sample program beside the service (``samples/service/<script>``) in a child process that prints
    ``READY [url]`` once it serves and stops on SIGTERM (or when this process exits)."""

    script = ""
    needs = ("", "")  # (module, what installs it)

    def __init__(self, argv: list[str], ready_timeout: float) -> None:
        self._argv = argv
        self.ready_timeout = ready_timeout
        self.ready_url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    def start(self) -> None:
        """Start it and wait for its READY line; SampleServiceError with its output if it fails."""
        module, extra = self.needs
        if importlib.util.find_spec(module) is None:
            raise SampleServiceError(f"{self.script} needs {module}: pip install 'sk-loadagent[{extra}]'")
        command = [sys.executable, str(samples_dir() / "service" / self.script), *self._argv]
        self._output = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [*command, "--exit-with-parent"],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.ready_timeout
        while (match := re.search(rb"^READY ?(\S*)", os.pread(self._output.fileno(), 4096, 0), re.M)) is None:
            if self._process.poll() is not None or time.monotonic() > deadline:
                text = os.pread(self._output.fileno(), _STDERR_TAIL, 0).decode(errors="replace").strip()
                self.stop()
                raise SampleServiceError(f"{self.script} did not start:\n{text or '(no output)'}")
            time.sleep(_POLL_S)
        self.ready_url = match.group(1).decode()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._output is not None:
            self._output.close()
            self._output = None

    async def __aenter__(self) -> Any:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


class NotificationWorker(_SampleChild):
    """``samples/service/notification_worker.py``: a RabbitMQ worker that follows the sample service's knobs
    (``service_url``), reading ``inq`` and writing ``outq``::

        async with SampleService() as svc, NotificationWorker(svc.url) as worker:
            ...                                   # surface: amqp tests on worker.inq -> worker.outq
    """

    script = "notification_worker.py"
    needs = ("aio_pika", "surfaces")

    def __init__(
        self,
        service_url: str,
        *,
        amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/",
        inq: str = "vetclinic.notifications.in",
        outq: str = "vetclinic.notifications.out",
        ready_timeout: float = READY_TIMEOUT_S,
    ) -> None:
        self.inq, self.outq = inq, outq
        argv = ["--service", service_url, "--amqp", amqp_url, "--in", inq, "--out", outq]
        super().__init__(argv, ready_timeout)


class AppointmentsGrpc(_SampleChild):
    """``samples/service/appointments_grpc.py``: the AppointmentService over gRPC on a free loopback port,
    following the sample service's knobs; ``url`` is ``grpc://127.0.0.1:<port>`` once started."""

    script = "appointments_grpc.py"
    needs = ("grpc", "surfaces")

    def __init__(self, service_url: str | None = None, *, ready_timeout: float = READY_TIMEOUT_S) -> None:
        following = ["--service", service_url] if service_url else []
        super().__init__([*following, "--port", "0"], ready_timeout)

    @property
    def url(self) -> str:
        return self.ready_url
