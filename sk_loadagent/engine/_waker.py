"""Wake the scheduler at an exact ``perf_counter`` time.

Event-loop timers have a resolution of one millisecond (libuv, epoll), which starts requests 0.3-0.6 ms late
on average; that lateness would be measured as latency from the intended start. On Linux a ``timerfd`` armed
at the absolute due time wakes the loop within ~50 µs. Elsewhere the loop's own timer is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import sys
import time
from collections.abc import Callable

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = 0o4000
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class Waker:
    """Calls ``callback`` once at (or just after) the time given to ``wake_at``; re-arm to be called again."""

    def wake_at(self, when: float) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _LoopWaker(Waker):
    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self._loop = loop
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None

    def wake_at(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(max(0.0, when - time.perf_counter()), self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._callback()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _TimerfdWaker(Waker):
    def __init__(
        self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None], libc: ctypes.CDLL, fd: int
    ) -> None:
        self._loop = loop
        self._callback = callback
        self._fd = fd
        self._settime = libc.timerfd_settime
        self._settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        loop.add_reader(fd, self._fire)

    def wake_at(self, when: float) -> None:
        value = self._spec.it_value
        seconds = int(when)
        value.tv_sec = seconds
        value.tv_nsec = max(1, int((when - seconds) * 1e9))  # 0 would disarm the timer
        self._settime(self._fd, _TFD_TIMER_ABSTIME, self._spec_ref, None)

    def _fire(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
        self._callback()

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1


def make_waker(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Waker:
    """A timerfd waker on Linux when perf_counter is CLOCK_MONOTONIC, else the loop's timer."""
    if (
        sys.platform.startswith("linux")
        and time.get_clock_info("perf_counter").implementation == "clock_gettime(CLOCK_MONOTONIC)"
    ):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = int(libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC))
        except (OSError, AttributeError):
            fd = -1
        if fd >= 0:
            try:
                return _TimerfdWaker(loop, callback, libc, fd)
            except (OSError, NotImplementedError, RuntimeError):
                os.close(fd)
    return _LoopWaker(loop, callback)
