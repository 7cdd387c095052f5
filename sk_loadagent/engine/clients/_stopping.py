"""Stopping a client's background work without trusting the library under it to honour a cancel.

A broker or WebSocket library may swallow a cancellation (and keep reading) or hang while it closes; a run
that waited on such a task without a bound would never end. These waits are bounded, and they never
suppress a cancellation of the task that waits (``asyncio.wait`` neither raises the awaited task's outcome
nor hides its caller's cancel).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

STOP_WAIT = 2.0  # seconds a cancelled task or a close gets before the run goes on without it


async def stop_task(task: asyncio.Task[Any] | None, timeout: float = STOP_WAIT) -> None:
    """Cancel ``task`` and wait for it to end, at most ``timeout``."""
    if task is None:
        return
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
    _retrieve(task)


async def finish_within(work: Coroutine[Any, Any, Any], timeout: float = STOP_WAIT) -> None:
    """Run ``work`` (a close) for at most ``timeout``; past it, cancel it and go on. Its failure is dropped:
    a close that fails leaves nothing to do."""
    task = asyncio.ensure_future(work)
    await asyncio.wait({task}, timeout=timeout)
    if not task.done():
        task.cancel()
        task.add_done_callback(_retrieve)
        return
    _retrieve(task)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Read a finished task's exception, so asyncio does not log it as never retrieved."""
    if task.done() and not task.cancelled():
        task.exception()
