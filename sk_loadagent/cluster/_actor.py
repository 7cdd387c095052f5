"""The worker as a Ray actor: the engine's ``run_share`` in a thread of its own with its own event loop
(uvloop when installed), as in a local worker process, talking to the driver through drained queues.

Times cross machines as wall-clock: the driver sends t0 already shifted by the node's measured clock offset,
and the actor turns it into its own ``perf_counter`` when it arrives.
"""

from __future__ import annotations

import asyncio
import importlib
import queue
import socket
import threading
import time
import traceback
from typing import Any

from sk_loadagent.engine._messages import WorkerOutput, WorkerSpec
from sk_loadagent.engine._worker import Message, _run_in_new_loop, run_share


class ActorLink:
    """The worker's side: ``handshake`` waits (off the loop) for the start the driver sends."""

    def __init__(self) -> None:
        self.to_parent: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.to_worker: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.started = threading.Event()
        self.t0 = 0.0

    async def handshake(self) -> float:
        self.to_parent.put(("ready",))
        await asyncio.get_running_loop().run_in_executor(None, self.started.wait)
        return self.t0

    def send(self, message: Message) -> None:
        self.to_parent.put(message)

    def poll(self) -> list[Message]:
        out = []
        while not self.to_worker.empty():
            out.append(self.to_worker.get_nowait())
        return out


class LoadWorker:
    """One share of the schedule on one node (wrapped with ``ray.remote`` by the placement)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self._link = ActorLink()
        self._output: WorkerOutput | None = None
        self._error: str | None = None
        self._reported = False
        self._thread = threading.Thread(
            target=self._main, args=(spec,), name="sk-loadagent-worker", daemon=True
        )
        self._thread.start()

    def _main(self, spec: WorkerSpec) -> None:
        try:
            self._output = _run_in_new_loop(run_share(spec, self._link))
        except BaseException:
            self._error = traceback.format_exc()

    def node(self) -> dict[str, Any]:
        ray: Any = importlib.import_module("ray")
        context = ray.get_runtime_context()
        address = ray.util.get_node_ip_address()
        return {"node": context.get_node_id(), "address": address, "host": socket.gethostname()}

    def clock(self) -> float:
        return time.time()

    def start(self, t0_wall: float) -> None:
        """Start at ``t0_wall`` on this node's clock."""
        self._link.t0 = time.perf_counter() + (t0_wall - time.time())
        self._link.started.set()

    def stop(self) -> None:
        """Stop now (a stress step broke, or a flow's data ran out): the driver's time means nothing here."""
        self._link.to_worker.put(("stop", time.perf_counter()))

    def drain(self) -> list[Message]:
        """What the worker said since the last drain, then ``done`` (or ``error``) once it finished."""
        out = []
        while not self._link.to_parent.empty():
            out.append(self._link.to_parent.get_nowait())
        if not self._thread.is_alive() and not self._reported:
            self._reported = True
            out.append(("done", self._output) if self._output is not None else ("error", self._error or "?"))
        return out
