"""What every broker surface shares: one connection per worker, correlation, time-to-ack and depth sampling.

A ``BrokerHub`` is one worker's link to a broker for one test. It connects once, reads the output the
service writes to (and its dead-letter output, if the plan names one) and hands the engine cheap clients
(``new``), each carrying one message at a time on the shared connection:

- a call puts a fresh correlation id in its message's properties or headers, registers a future under it,
  publishes, and returns when the correlated output arrives. The engine times the call from the moment it
  was due, so its latency is the end-to-end lag from the intended publish time; an output that never comes
  ends as the engine's timeout (and at the end of the schedule as a timeout too, never dropped);
- the publish's own round trip (the broker's confirm, JetStream's ack, XADD's reply) is time-to-ack;
- a correlated message on the dead-letter output fails its call as ``deadLetter``;
- a sampler reads the depth of the queues or streams every ``DEPTH_EVERY`` seconds.

A subclass says how to ``_open``, ``_publish``, ``_depth`` and ``_close`` for its broker.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter, OrderedDict
from typing import Any

import numpy as np
import orjson

from sk_loadagent.engine.clients._stopping import finish_within, stop_task
from sk_loadagent.engine.clients.base import Call, Client, ClientError, Reply
from sk_loadagent.measurements import SurfaceMeasurements
from sk_loadagent.models.jsonpath import MISSING, JsonPath, compile_json_path

DEPTH_EVERY = 0.5
DEPTH_TIMEOUT = 2.0
MAX_EARLY = 10_000  # messages kept for a consuming step not yet due (each at most a timeout)
MAX_TIMINGS = 2_000_000  # per figure, ~32 MB; past it a figure keeps its first samples and says so
_perf_counter = time.perf_counter


class SurfaceStats:
    """A surface's own measurements in one worker: timings, depth samples, counts and notes."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.t0 = 0.0
        self.counts: Counter[str] = Counter()
        self.notes: list[str] = []
        self._timings: dict[str, tuple[list[float], list[float]]] = {}
        self._depth: dict[str, list[tuple[float, float]]] = {}

    def timed(self, name: str, began: float, seconds: float) -> None:
        """One sample of figure ``name``: began at ``began`` (perf_counter), took ``seconds``."""
        starts, values = self._timings.setdefault(name, ([], []))
        if len(starts) < MAX_TIMINGS:
            starts.append(began - self.t0)
            values.append(seconds)
        elif len(starts) == MAX_TIMINGS:
            starts.append(np.nan)  # a marker: the note is written once
            values.append(np.nan)
            self.notes.append(f"{self.kind}: {name} kept its first {MAX_TIMINGS:,} samples")

    def depth(self, at: float, name: str, value: float) -> None:
        self._depth.setdefault(name, []).append((at - self.t0, value))

    def measurements(self, target: str) -> SurfaceMeasurements:
        timings = {}
        for name, (starts, values) in self._timings.items():
            start, value = np.asarray(starts, np.float64), np.asarray(values, np.float64)
            keep = ~np.isnan(start)
            timings[name] = (start[keep], value[keep])
        return SurfaceMeasurements(
            kind=self.kind,
            target=target,
            timings=timings,
            depth={k: list(v) for k, v in self._depth.items()},
            counts=dict(self.counts),
        )


_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def failure_text(failure: BaseException) -> str:
    """``Type: first line of the message``, or the type alone when the message is empty (a bare timeout)."""
    lines = _ADDRESS.sub("", str(failure)).splitlines()  # an object's address would differ on every run
    return f"{type(failure).__name__}: {lines[0]}" if lines and lines[0] else type(failure).__name__


def message_bytes(params: dict[str, Any]) -> bytes:
    """The rendered message body: the JSON document, or the text body."""
    if "json" in params:
        return orjson.dumps(params["json"])
    return str(params.get("body", "")).encode()


class BrokerHub:
    """One worker's connection to a broker for one test (see the module's description)."""

    kind = ""

    def __init__(self, block: Any, timeout: float) -> None:
        self.block = block
        self.timeout = timeout
        self.stats = SurfaceStats(self.kind)
        self.counts = self.stats.counts
        self.notes = self.stats.notes
        self.pending: dict[str, asyncio.Future[Reply]] = {}
        self.failure: str | None = None  # why the broker cannot be used (calls fail with connectRefused)
        self._sampler: asyncio.Task[None] | None = None
        # Set when the hub starts closing: a reader stops on it (a library may swallow the reader's cancel)
        # and a lost connection after it is the close, not a loss to note.
        self.closing = False
        # A flow step that only consumes: its message is the one whose JSONPath value is the step's.
        match = block.consume.match or {}
        self.match_path = compile_json_path(next(iter(match))) if match else None
        self.early: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # arrived before their step

    # -- to be provided by a broker --------------------------------------------------------------------------
    async def _open(self) -> None:
        """Connect, and start reading the output (and dead-letter output) with ``arrived`` / ``dead``."""
        raise NotImplementedError

    async def _publish(self, correlation: str, body: bytes, headers: dict[str, str]) -> None:
        """Publish one message carrying ``correlation``; return when the broker acknowledged it."""
        raise NotImplementedError

    async def _depth_now(self) -> dict[str, float]:
        """The depth of each queue or stream sampled, by name (empty: nothing to sample)."""
        return {}

    async def _close(self) -> None:
        raise NotImplementedError

    @property
    def acks(self) -> bool:
        """Whether a publish waits for an acknowledgement (core NATS does not)."""
        return True

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (raises what the broker library raised: the caller decides what a failure means)."""
        await asyncio.wait_for(self._open(), timeout=self.timeout)
        self._sampler = asyncio.get_running_loop().create_task(self._sample())

    async def start_or_note(self) -> None:
        """In a worker: a broker that fails here (it passed the parent's probe) fails each call instead."""
        try:
            await self.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failure = failure_text(exc)
            self.notes.append(f"{self.kind}: could not connect in the worker ({self.failure})")

    async def aclose(self) -> None:
        self.closing = True
        await stop_task(self._sampler)
        for future in self.pending.values():
            if not future.done():
                future.cancel()
        await finish_within(self._close(), timeout=DEPTH_TIMEOUT)

    def new(self) -> Client:
        return _BrokerClient(self)

    # -- what the output readers call ------------------------------------------------------------------------
    def arrived(self, correlation: str | None, body: bytes) -> None:
        """An output message: the reply of the call waiting for its correlation id (or, for a step that
        only consumes, for its match value; one that comes before its step is kept for it a while)."""
        if self.match_path is not None:
            correlation = _match_key(self.match_path, body)
            if correlation is not None and correlation not in self.pending:
                self._keep_early(correlation, body)
                return
        future = self.pending.pop(correlation, None) if correlation is not None else None
        if future is None or future.done():
            self.counts["unmatched"] += 1
            return
        self.counts["received"] += 1
        future.set_result(Reply(status=None, body=body, bytes_in=len(body), received=_perf_counter()))

    def _keep_early(self, key: str, body: bytes) -> None:
        now = _perf_counter()
        early = self.early
        early[key] = (now, body)
        while early and (len(early) > MAX_EARLY or next(iter(early.values()))[0] < now - self.timeout):
            early.popitem(last=False)
            self.counts["unmatched"] += 1

    def take_early(self, key: str) -> bytes | None:
        found = self.early.pop(key, None)
        return found[1] if found is not None else None

    def dead(self, correlation: str | None) -> None:
        """A message on the dead-letter output: its call fails as ``deadLetter``."""
        self.counts["deadLetters"] += 1
        future = self.pending.pop(correlation, None) if correlation is not None else None
        if future is not None and not future.done():
            future.set_exception(ClientError("deadLetter"))

    # -- measurements ---------------------------------------------------------------------------------------
    def acked(self, sent: float, seconds: float) -> None:
        self.stats.timed("timeToAck", sent, seconds)

    async def _sample(self) -> None:
        while True:
            now = _perf_counter()
            try:
                found = await asyncio.wait_for(self._depth_now(), timeout=DEPTH_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.notes.append(f"{self.kind}: depth sampling stopped ({failure_text(exc)})")
                return
            if not found:
                return
            for name, value in found.items():
                self.stats.depth(now, name, value)
            await asyncio.sleep(max(0.0, DEPTH_EVERY - (_perf_counter() - now)))

    def measurements(self, target: str) -> SurfaceMeasurements:
        return self.stats.measurements(target)


class _BrokerClient(Client):
    """One message at a time on the hub's connection."""

    __slots__ = ("_hub", "broken")

    def __init__(self, hub: BrokerHub) -> None:
        self._hub = hub
        self.broken = False

    async def call(self, call: Call) -> Reply:
        hub = self._hub
        if hub.failure is not None:
            raise ClientError("connectRefused")
        if hub.match_path is not None:
            return await self._consume(str(call.params.get("match", "")))
        correlation = uuid.uuid4().hex
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        hub.pending[correlation] = future
        body = message_bytes(call.params)
        try:
            sent = _perf_counter()
            try:
                await hub._publish(correlation, body, call.params.get("headers") or {})
            except (asyncio.CancelledError, ClientError):
                raise
            except Exception as exc:
                hub.counts["publishFailed"] += 1
                raise ClientError("reset", f"publish failed: {exc}") from None
            hub.counts["published"] += 1
            if hub.acks:
                hub.acked(sent, _perf_counter() - sent)
            reply = await future
        finally:
            hub.pending.pop(correlation, None)
        reply.bytes_out = len(body)
        return reply

    async def _consume(self, key: str) -> Reply:
        """A step that only consumes: the message whose match value is ``key`` (it may have come already)."""
        hub = self._hub
        early = hub.take_early(key)
        if early is not None:
            hub.counts["received"] += 1
            return Reply(status=None, body=early, bytes_in=len(early))
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        hub.pending[key] = future
        try:
            return await future
        finally:
            hub.pending.pop(key, None)


def _match_key(path: JsonPath, body: bytes) -> str | None:
    try:
        value = path.first(orjson.loads(body))
    except orjson.JSONDecodeError:
        return None
    if value is MISSING or value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()
