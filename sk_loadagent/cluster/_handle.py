"""The driver's handle on one worker actor: the engine's ``WorkerHandle`` over Ray calls."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from sk_loadagent.engine._worker import Message


@dataclass(frozen=True)
class NodeClock:
    node: str
    address: str
    offset_s: float  # the node's clock minus the driver's
    round_trip_s: float


class RayHandle:
    """Drains the actor's messages without blocking (one call in flight at a time); a call that fails
    means the actor, and so far as the run is concerned its node, is gone."""

    def __init__(self, worker: int, actor: Any, clock: NodeClock) -> None:
        self.worker = worker
        self.actor = actor
        self.clock = clock
        self._pending: Any = None
        self._gone: str | None = None
        self._finished = False

    def poll(self) -> list[Message]:
        import ray

        if self._gone is not None or self._finished:
            return []
        if self._pending is None:
            self._pending = self.actor.drain.remote()
        ready, _ = ray.wait([self._pending], timeout=0)
        if not ready:
            return []
        try:
            messages: list[Message] = ray.get(self._pending)
        except ray.exceptions.RayError as exc:
            self._gone = f"node {self.clock.address} ({self.clock.node[:12]}) lost: {type(exc).__name__}"
            return []
        finally:
            self._pending = None
        self._finished = any(m[0] in ("done", "error") for m in messages)
        return messages

    def send(self, message: Message) -> None:
        if message[0] == "start":
            # t0 is the driver's perf_counter: as the driver's wall clock, then as the node's
            t0_wall = time.time() + (float(message[1]) - time.perf_counter())  # type: ignore[arg-type]
            self.actor.start.remote(t0_wall + self.clock.offset_s)
        elif message[0] == "stop":
            self.actor.stop.remote()

    def alive(self) -> bool:
        return self._gone is None

    def describe_exit(self) -> str:
        return self._gone or f"worker on node {self.clock.address} ({self.clock.node[:12]}) is still running"

    async def stop(self, *, force: bool = False) -> None:
        import ray

        with contextlib.suppress(ray.exceptions.RayError):
            ray.kill(self.actor, no_restart=True)
