"""A library that swallows a cancel or hangs in its close cannot hold a run open (the CI hang of 2026-11-30:
a broker test waited 12 minutes on a reader it had cancelled)."""

from __future__ import annotations

import asyncio
import time

from sk_loadagent.engine.clients._stopping import finish_within, stop_task


class _Stubborn:
    """A reader that swallows every cancel until it is released, as a library's read loop may."""

    def __init__(self) -> None:
        self.released = asyncio.Event()

    async def read(self) -> None:
        while not self.released.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue


async def test_a_reader_that_swallows_its_cancel_is_left_after_the_bound() -> None:
    stubborn = _Stubborn()
    task = asyncio.create_task(stubborn.read())
    await asyncio.sleep(0)
    began = time.monotonic()
    await stop_task(task, timeout=0.2)
    assert 0.2 <= time.monotonic() - began < 1.0
    assert not task.done()
    stubborn.released.set()
    task.cancel()
    await asyncio.wait({task}, timeout=1.0)
    assert task.done()


async def test_a_close_that_hangs_is_cancelled_after_the_bound() -> None:
    began = time.monotonic()
    await finish_within(asyncio.sleep(30), timeout=0.2)
    assert time.monotonic() - began < 1.0


async def test_the_waiters_own_cancel_is_not_swallowed() -> None:
    stubborn = _Stubborn()
    reader = asyncio.create_task(stubborn.read())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(stop_task(reader, timeout=30.0))
    await asyncio.sleep(0.05)
    waiter.cancel()
    done, _ = await asyncio.wait({waiter}, timeout=1.0)
    assert waiter in done
    assert waiter.cancelled()
    stubborn.released.set()
    reader.cancel()
    await asyncio.wait({reader}, timeout=1.0)


async def test_a_failed_task_is_read_not_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("the connection broke")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await stop_task(task)  # its failure was the reader's note to make; stopping does not raise it
    await finish_within(fails())
