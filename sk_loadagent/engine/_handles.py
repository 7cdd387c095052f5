"""The parent's handles on its workers: a task in this event loop, or a spawned process with a pipe."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import sys
import time
import types
from collections.abc import Iterator
from typing import Protocol

from sk_loadagent.engine._messages import WorkerSpec
from sk_loadagent.engine._worker import STOP_SIGNALS, LocalLink, Message, process_main, run_share

EXIT_WAIT = 5.0  # a worker that sent its result exits by itself within this
SIGNAL_WAIT = 2.0  # after SIGTERM, then again after SIGKILL
STOP_TIMEOUT = EXIT_WAIT + 2 * SIGNAL_WAIT  # the longest ``ProcessHandle.stop`` takes


class WorkerHandle(Protocol):
    worker: int

    def poll(self) -> list[Message]:
        """Messages the worker sent since the last poll."""
        ...

    def send(self, message: Message) -> None: ...

    def alive(self) -> bool: ...

    def describe_exit(self) -> str: ...

    async def stop(self, *, force: bool = False) -> None:
        """Make sure the worker is gone (called on every exit path); ``force`` does not wait for it."""
        ...


class LocalHandle:
    """``workers=0``: the worker coroutine runs as a task of the caller's event loop."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.worker = spec.worker
        self._link = LocalLink()
        self._task = asyncio.get_running_loop().create_task(run_share(spec, self._link))
        self._delivered = False

    def poll(self) -> list[Message]:
        out = list(self._link.to_parent)
        self._link.to_parent.clear()
        if self._task.done() and not self._delivered:
            self._delivered = True
            out.append(("done", self._task.result()))  # re-raises a failure of the worker coroutine
        return out

    def send(self, message: Message) -> None:
        if message[0] == "start":
            self._link.start(float(message[1]))  # type: ignore[arg-type]
        else:
            self._link.to_worker.append(message)

    def alive(self) -> bool:
        return not self._task.done() or not self._delivered

    def describe_exit(self) -> str:
        return "its task ended"

    async def stop(self, *, force: bool = False) -> None:
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM while a worker is spawned: the child inherits the mask, so a Ctrl-C during
    its start-up waits until ``process_main`` has set its handlers (no KeyboardInterrupt traceback from a
    half-started interpreter). Here the signals stay pending and arrive when the mask is restored."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _without_main_module() -> Iterator[None]:
    """Keep ``spawn`` from re-importing the parent's ``__main__`` in the worker.

    A console script or CLI module imports the whole agent (Semantic Kernel included); the worker needs only
    the engine, which it imports by name. ``spawn`` reads ``sys.modules["__main__"]`` while starting the
    process, so a bare stand-in for that moment keeps the worker lean.
    """
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class ProcessHandle:
    """A worker in its own process (multiprocessing ``spawn``: a fresh interpreter without the agent)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.worker = spec.worker
        ctx = multiprocessing.get_context("spawn")
        self._end, child_end = ctx.Pipe(duplex=True)
        self._process = ctx.Process(
            target=process_main,
            args=(spec, child_end),
            name=f"sk-loadagent-worker-{spec.worker}",
            daemon=True,
        )
        with _without_main_module(), _stop_signals_blocked():
            self._process.start()
        child_end.close()
        self._closed = False

    def poll(self) -> list[Message]:
        out: list[Message] = []
        if self._closed:
            return out
        try:
            while self._end.poll():
                out.append(self._end.recv())
        except (EOFError, OSError):
            self._closed = True
        return out

    def send(self, message: Message) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self._end.send(message)

    def alive(self) -> bool:
        return self._process.is_alive()

    def describe_exit(self) -> str:
        code = self._process.exitcode
        return "it is still running" if code is None else f"it exited with code {code}"

    async def stop(self, *, force: bool = False) -> None:
        """Wait for the worker to exit, then SIGTERM, then SIGKILL; never blocks the event loop, so the
        parent stops all its workers at once (within ``STOP_TIMEOUT``)."""
        if not await self._exited_within(0.0 if force else EXIT_WAIT):
            self._process.terminate()
            if not await self._exited_within(SIGNAL_WAIT):
                self._process.kill()
                await self._exited_within(SIGNAL_WAIT)
        if not self._process.is_alive():
            self._process.join()  # reap it
        self._end.close()

    async def _exited_within(self, seconds: float) -> bool:
        limit = time.monotonic() + seconds
        while self._process.is_alive() and time.monotonic() < limit:
            await asyncio.sleep(0.02)
        return not self._process.is_alive()
