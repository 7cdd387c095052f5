"""Webhooks and long-running jobs: HTTP requests to the plan's service (httpx), measured to their end.

**webhook.** The worker serves a loopback receiver on an ephemeral port. Each call puts a URL of it unique
to the call (``${webhook.url}``: ``http://127.0.0.1:<port>/hook/<id>``) in its trigger request and ends
when the service delivers to that URL, so its latency runs from the intended trigger to the delivery.
Beside it: ``triggerTime`` (the trigger's own round trip), ``triggered``, ``delivered``, ``retries`` (a
second delivery to a URL already delivered to: the sender retried) and ``retryLag`` (first delivery to the
retry); the receiver answers 204.

**job.** Each call submits, reads the job id from the reply (a JSONPath, or ``header:Location``), then polls
the status path every ``poll.interval`` until every ``until`` condition holds: its latency runs from the
intended submit to the poll that saw it done. A ``failWhen`` condition that holds ends it as ``check``;
the test's timeout bounds it (a timeout). Beside it: ``submitTime`` and ``polls`` (per job).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import httptools
import httpx
import orjson

from sk_loadagent.engine._tls import client_context
from sk_loadagent.engine.clients._broker import SurfaceStats, message_bytes
from sk_loadagent.engine.clients._stopping import finish_within
from sk_loadagent.engine.clients.base import Call, Client, ClientError, Reply
from sk_loadagent.measurements import SurfaceMeasurements
from sk_loadagent.models.jsonpath import MISSING, compile_json_path
from sk_loadagent.models.plan import TlsOptions
from sk_loadagent.models.surfaces import JobSurface, WebhookSurface

WEBHOOK_URL = "${webhook.url}"
JOB_ID = "${job.id}"
MAX_CONNECTIONS = 1000
_perf_counter = time.perf_counter
_NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


def _filled(value: Any, marker: str, text: str) -> Any:
    """``value`` (rendered params) with every ``marker`` replaced by ``text``."""
    if isinstance(value, str):
        return value.replace(marker, text)
    if isinstance(value, dict):
        return {k: _filled(v, marker, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, marker, text) for v in value]
    return value


def _failed_status(status: int) -> ClientError:
    return ClientError("http4xx" if status < 500 else "http5xx")


class _HttpHub:
    """What the calls of one worker share: one httpx client to the service, the measurements."""

    kind = ""

    def __init__(self, timeout: float, base_url: str, tls: TlsOptions | None) -> None:
        self.timeout = timeout
        self.base_url = base_url.rstrip("/")
        self.stats = SurfaceStats(self.kind)
        self.notes = self.stats.notes
        verify: Any = client_context(tls, alpn=["http/1.1"]) if tls is not None else True
        self._tls = verify
        self.client: httpx.AsyncClient | None = None

    async def start_or_note(self) -> None:
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout),
            limits=limits,
            verify=self._tls,
            trust_env=False,
        )

    async def aclose(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.aclose()

    def measurements(self, target: str) -> SurfaceMeasurements:
        return self.stats.measurements(target)

    async def request(self, params: dict[str, Any], began_name: str) -> tuple[httpx.Response, int]:
        """Send one rendered request; (response, bytes sent). Fails with the HTTP error class."""
        assert self.client is not None, "start_or_note() first"
        body = message_bytes(params) if params.get("method") in ("POST", "PUT", "PATCH") else b""
        headers = dict(params.get("headers") or {})
        if "json" in params:
            headers.setdefault("Content-Type", "application/json")
        began = _perf_counter()
        try:
            response = await self.client.request(
                params["method"], params["path"], content=body or None, headers=headers
            )
        except asyncio.CancelledError:
            raise
        except httpx.TimeoutException:
            raise ClientError("timeout") from None
        except httpx.ConnectError:
            raise ClientError("connectRefused") from None
        except (httpx.HTTPError, OSError):
            raise ClientError("reset") from None
        self.stats.timed(began_name, began, _perf_counter() - began)
        if response.status_code >= 400:
            raise _failed_status(response.status_code)
        return response, len(body)


# -- webhook -------------------------------------------------------------------------------------------------
class _Receiver(asyncio.Protocol):
    """One connection to the receiver: HTTP/1.1 requests, each answered 204."""

    def __init__(self, hub: WebhookHub) -> None:
        self._hub = hub
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._body = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self._hub.delivered(self._url.decode("latin-1"), bytes(self._body))
        self._url, self._body = b"", bytearray()
        if self._transport is not None:
            self._transport.write(_NO_CONTENT)
            if not self._parser.should_keep_alive():
                self._transport.close()


class WebhookHub(_HttpHub):
    kind = "webhook"

    def __init__(self, block: WebhookSurface, timeout: float, base_url: str, tls: TlsOptions | None) -> None:
        super().__init__(timeout, base_url, tls)
        self.block = block
        self.pending: dict[str, asyncio.Future[Reply]] = {}
        self.first_delivery: dict[str, float] = {}
        self.receiver = ""
        self._server: asyncio.Server | None = None

    async def start_or_note(self) -> None:
        await super().start_or_note()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Receiver(self), "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.receiver = f"http://127.0.0.1:{port}/hook/"

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await finish_within(self._server.wait_closed(), timeout=1.0)
        await super().aclose()

    def new(self) -> Client:
        return _WebhookClient(self)

    def delivered(self, target: str, body: bytes) -> None:
        now = _perf_counter()
        correlation = urlsplit(target).path.rpartition("/hook/")[2]
        stats = self.stats
        first = self.first_delivery.get(correlation)
        if first is not None:
            stats.counts["retries"] += 1
            stats.timed("retryLag", first, now - first)
            return
        future = self.pending.pop(correlation, None)
        if future is None or future.done():
            stats.counts["unmatched"] += 1
            return
        self.first_delivery[correlation] = now
        stats.counts["delivered"] += 1
        future.set_result(Reply(status=None, body=body, bytes_in=len(body), received=now))


class _WebhookClient(Client):
    __slots__ = ("_hub", "broken")

    def __init__(self, hub: WebhookHub) -> None:
        self._hub = hub
        self.broken = False

    async def call(self, call: Call) -> Reply:
        hub = self._hub
        correlation = uuid.uuid4().hex
        params = _filled(call.params, WEBHOOK_URL, hub.receiver + correlation)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        hub.pending[correlation] = future
        try:
            _, sent = await hub.request(params, "triggerTime")
            hub.stats.counts["triggered"] += 1
            reply = await future
        finally:
            hub.pending.pop(correlation, None)
        reply.bytes_out = sent
        return reply


# -- job -----------------------------------------------------------------------------------------------------
class JobHub(_HttpHub):
    kind = "job"

    def __init__(self, block: JobSurface, timeout: float, base_url: str, tls: TlsOptions | None) -> None:
        super().__init__(timeout, base_url, tls)
        self.block = block
        self.id_header = block.id[len("header:") :].strip() if block.id.startswith("header:") else None
        self.id_path = compile_json_path(block.id) if self.id_header is None else None
        self.until = [(compile_json_path(k), v) for k, v in block.until.items()]
        self.fail_when = [(compile_json_path(k), v) for k, v in (block.fail_when or {}).items()]

    def new(self) -> Client:
        return _JobClient(self)

    def job_id(self, response: httpx.Response) -> str:
        if self.id_header is not None:
            found = response.headers.get(self.id_header)
            if found is None:
                raise ClientError("extract")
            return str(found).rstrip("/").rpartition("/")[2] or str(found)
        assert self.id_path is not None
        value = self.id_path.first(_document(response.content))
        if value is MISSING or value is None:
            raise ClientError("extract")
        return value if isinstance(value, str) else orjson.dumps(value).decode()


def _document(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return MISSING


def _holds(conditions: list[tuple[Any, Any]], document: Any) -> bool:
    return bool(conditions) and all(path.first(document) == expected for path, expected in conditions)


class _JobClient(Client):
    __slots__ = ("_hub", "broken")

    def __init__(self, hub: JobHub) -> None:
        self._hub = hub
        self.broken = False

    async def call(self, call: Call) -> Reply:
        hub = self._hub
        began = _perf_counter()
        response, sent = await hub.request(call.params["submit"], "submitTime")
        job = hub.job_id(response)
        poll = {
            "method": "GET",
            "path": str(call.params["poll"]).replace(JOB_ID, quote(job, safe="")),
            "headers": call.params["submit"].get("headers") or {},
        }
        polls = 0
        try:
            while True:
                await asyncio.sleep(hub.block.poll.interval)
                response, _ = await hub.request(poll, "pollTime")
                polls += 1
                document = _document(response.content)
                if _holds(hub.fail_when, document):
                    hub.stats.counts["failed"] += 1
                    raise ClientError("check")
                if _holds(hub.until, document):
                    break
        finally:
            hub.stats.timed("polls", began, float(polls))
        hub.stats.counts["done"] += 1
        return Reply(status=response.status_code, body=response.content, bytes_out=sent)
