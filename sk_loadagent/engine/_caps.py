"""The caps of this machine and what a load profile needs of it (README, "Caps").

``machine_caps`` derives the memory cap (half the memory the OS reports available) and the connection cap
(the open-file limit of each generator process, less a reserve); ``memory_need`` estimates the generator
memory a profile drives, part by part, from costs measured on the engine (below).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import dataclass

import psutil

from sk_loadagent.engine._options import DEFAULT_SAMPLE_BUDGET
from sk_loadagent.engine._profile import LoadProfile
from sk_loadagent.engine._schedule import ArrivalSchedule
from sk_loadagent.errors import InputProblem
from sk_loadagent.models.caps import DEFAULT_WHY, KIB, Caps, format_size
from sk_loadagent.models.durations import format_duration
from sk_loadagent.models.plan import TestSpec

if sys.platform != "win32":
    import resource

RESERVED_FILES = 64  # descriptors a worker keeps for itself: the interpreter, its pipe, libraries
MAX_OPEN_FILES = 1 << 20  # Linux refuses a soft limit above nr_open (2**20 by default)
MEMORY_SHARE = 0.5  # of the available memory, so the target and the OS keep the rest

# Generator memory per unit, measured on the engine (2 cores, Python 3.11; rounded up):
BACKLOG_BYTES = 128  # a request waiting for a free connection (deque entry: measured 105 B)
SAMPLE_BYTES = 3 * 33  # a kept raw sample: in its worker, pickled to the parent and merged there
CONNECTION_BYTES = 16 * KIB  # an open keep-alive connection or VU (measured 10-13 KiB with the server's side)
TLS_CONNECTION_BYTES = 48 * KIB  # on top for https://: OpenSSL's buffers, the loop's TLS layer (37-50 KB)
WINDOW_BYTES = 18 * KIB  # one per-second window (two 1,102-bucket histograms: measured 18.3 KB)


def open_files_limit(*, spawned: bool) -> int:
    """Descriptors one generator process may open: the hard limit for a spawned worker (it raises its own
    soft limit to it, see ``raise_open_files_limit``), the current soft limit in the calling process."""
    if sys.platform == "win32":  # pragma: no cover - no rlimits; asyncio's default on Windows
        return 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    chosen = hard if spawned else soft
    return MAX_OPEN_FILES if chosen == resource.RLIM_INFINITY else min(chosen, MAX_OPEN_FILES)


def raise_open_files_limit() -> None:
    """Raise this process's soft open-file limit to its hard limit (as Locust does): connections need one."""
    if sys.platform == "win32":  # pragma: no cover
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        # The connection cap was derived from the hard limit; a refusal here shows as connect errors.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def machine_caps(workers: int | None = None) -> Caps:
    """The default caps for a run with ``workers`` generator processes (None: one per core; 0: in-process)."""
    processes = (os.cpu_count() or 1) if workers is None else max(workers, 1)
    spawned = workers != 0
    per_process = max(1, open_files_limit(spawned=spawned) - RESERVED_FILES)
    available = psutil.virtual_memory().available
    return Caps(
        memory=int(available * MEMORY_SHARE),
        connections=processes * per_process,
        processes=processes,
        why={
            **DEFAULT_WHY,
            "memory": f"half of the {format_size(available)} this machine has available",
            "connections": (
                f"{processes} generator process{'es' if processes != 1 else ''} × {per_process:,} "
                f"connections, the open-file limit less {RESERVED_FILES}"
            ),
        },
    )


@dataclass(frozen=True)
class MemoryNeed:
    """Generator memory a profile drives, by part (bytes). The interpreters themselves come on top."""

    backlog: float  # requests that may wait for a connection: peak rate × timeout
    samples: float  # raw samples kept, up to the sample budget
    connections: float  # open connections, each with a request body it may hold unsent
    windows: float  # per-second windows of the whole schedule, in every worker and in the parent

    @property
    def total(self) -> float:
        return self.backlog + self.samples + self.connections + self.windows

    def largest(self) -> str:
        parts = {
            "backlog": self.backlog,
            "samples": self.samples,
            "connections": self.connections,
            "windows": self.windows,
        }
        return max(parts, key=lambda name: parts[name])


def memory_need(profile: LoadProfile, processes: int, *, window_seconds: float = 1.0) -> MemoryNeed:
    """What ``profile`` needs of the generator's memory with ``processes`` workers (see the unit costs)."""
    body = max([len(profile.body.encode()) if profile.body else 0, *profile.payload_sizes])
    if profile.model == "open":
        backlog = profile.executor.peak() * profile.timeout * BACKLOG_BYTES
        planned = ArrivalSchedule(profile.executor.rate_segments()).total
    else:
        backlog, planned = 0.0, DEFAULT_SAMPLE_BUDGET  # a closed model may fill the budget at any rate
    windows = math.ceil((profile.total_duration + profile.timeout) / window_seconds)
    connection = CONNECTION_BYTES + (TLS_CONNECTION_BYTES if profile.tls is not None else 0)
    return MemoryNeed(
        backlog=backlog,
        samples=min(planned, DEFAULT_SAMPLE_BUDGET) * SAMPLE_BYTES,
        connections=profile.max_connections * (connection + body),
        windows=windows * WINDOW_BYTES * (2 * processes + 1),
    )


# -- checks: a profile against the caps, each problem naming the plan field that drives it ------------------


def check_holds_a_request(profile: LoadProfile, test: TestSpec) -> list[InputProblem]:
    """An open-model schedule whose measured phases hold no arrival would store a run of 0 requests."""
    if profile.model != "open":
        return []
    schedule = ArrivalSchedule(profile.executor.rate_segments())
    measured = sum(schedule.arrivals_between(p.start, p.end) for p in profile.phases if p.measured)
    if measured >= 1:
        return []
    hint = f" (at {test.rps:g} rps: at least {format_duration(1 / test.rps)})" if test.rps else ""
    expected = f"a duration long enough for at least one measured request{hint}"
    return [InputProblem(_duration_field(test), expected, _duration_shown(test, profile))]


def check_caps(profile: LoadProfile, test: TestSpec, caps: Caps) -> list[InputProblem]:
    """Every cap ``profile`` exceeds, as problems naming the test's field, the cap and where it came from."""
    problems: list[InputProblem] = []
    if caps.duration is not None and profile.load_seconds > caps.duration:
        expected = f"a schedule of at most {format_duration(caps.duration)} ({caps.explain('duration')})"
        problems.append(InputProblem(_duration_field(test), expected, _duration_shown(test, profile)))
    body = _largest_body(profile)
    if caps.body is not None and body > caps.body:
        field = "payloadSizes" if profile.payload_sizes else "body"
        expected = f"a request body of at most {format_size(caps.body)} ({caps.explain('body')})"
        problems.append(InputProblem(field, expected, format_size(body)))
    if caps.connections is not None and profile.max_connections > caps.connections:
        field = _vu_field(test) if profile.model == "closed" else "maxConnections"
        noun = "virtual users, one connection each" if profile.model == "closed" else "connections"
        expected = f"at most {caps.connections:,} {noun} ({caps.explain('connections')})"
        problems.append(InputProblem(field, expected, f"{profile.max_connections:,}"))
    if caps.memory is not None and not problems:
        need = memory_need(profile, caps.processes)
        if need.total > caps.memory:
            field, shown = _memory_driver(profile, test, need)
            expected = (
                f"a test whose generator needs at most {format_size(caps.memory)} of memory "
                f"({caps.explain('memory')})"
            )
            problems.append(InputProblem(field, expected, f"{shown}, which needs about {_describe(need)}"))
    return problems


def _largest_body(profile: LoadProfile) -> int:
    return max([len(profile.body.encode()) if profile.body else 0, *profile.payload_sizes])


def _duration_field(test: TestSpec) -> str:
    if test.type == "custom":
        return "stages"
    if test.type == "stress" and test.duration is None:
        return "stepDuration"
    return "duration"


def _duration_shown(test: TestSpec, profile: LoadProfile) -> str:
    total = _rounded(profile.load_seconds)
    if test.duration is not None and total != format_duration(test.duration):
        return f"{format_duration(test.duration)}, a schedule of {total} with its other phases"
    return total


def _rounded(seconds: float) -> str:
    """``1000h``, ``2.5m``, ``1.1ms``: four significant digits in the largest unit that fits."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size:
            return f"{seconds / size:.4g}{unit}"
    return f"{seconds * 1000:.4g}ms"


def _rate_field(test: TestSpec) -> str:
    if test.type == "custom" and test.stages:
        highest = max(range(len(test.stages)), key=lambda i: test.stages[i].target if test.stages else 0)
        return f"stages[{highest}].target"
    if test.type == "stress" and test.max_rps is not None:
        return "maxRps"
    return "rps"


def _vu_field(test: TestSpec) -> str:
    return _rate_field(test) if test.type == "custom" else "vus"


def _memory_driver(profile: LoadProfile, test: TestSpec, need: MemoryNeed) -> tuple[str, str]:
    """The plan field behind the largest part of ``need``, and its value as the plan means it."""
    largest = need.largest()
    if largest == "windows":
        return _duration_field(test), _duration_shown(test, profile)
    if largest == "connections":
        if profile.model == "closed":
            return _vu_field(test), f"{profile.max_connections:,} virtual users"
        if test.max_connections is not None:
            return "maxConnections", f"{profile.max_connections:,}"
        if _largest_body(profile) > CONNECTION_BYTES:
            field = "payloadSizes" if profile.payload_sizes else "body"
            body = format_size(_largest_body(profile))
            return field, f"{body} on each of {profile.max_connections:,} connections"
    return _rate_field(test), f"{profile.executor.peak():g} rps"


def _describe(need: MemoryNeed) -> str:
    words = {
        "backlog": "for requests waiting for a connection, up to the peak rate × the timeout",
        "samples": "for raw samples",
        "connections": "for open connections",
        "windows": "for per-second windows",
    }
    largest = need.largest()
    part = getattr(need, largest)
    return f"{format_size(need.total)}, {format_size(part)} of it {words[largest]}"
