"""Caps derived from this machine, the memory a profile needs by part, and build_profile's refusals."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections import namedtuple

import psutil
import pytest

from sk_loadagent.engine import build_profile, machine_caps
from sk_loadagent.engine._caps import (
    BACKLOG_BYTES,
    CONNECTION_BYTES,
    RESERVED_FILES,
    SAMPLE_BYTES,
    WINDOW_BYTES,
    memory_need,
)
from sk_loadagent.errors import InputError
from sk_loadagent.models.caps import GIB, Caps
from sk_loadagent.models.plan import TestSpec

URL = "http://127.0.0.1:9"
Memory = namedtuple("Memory", "available")


def spec(**fields: object) -> TestSpec:
    return TestSpec.model_validate(fields)


def test_the_memory_cap_is_half_the_available_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory(available=8 * GIB))
    caps = machine_caps(workers=2)
    assert caps.memory == 4 * GIB
    assert caps.why["memory"] == "half of the 8 GiB this machine has available"


def test_the_connection_cap_is_the_open_file_limit_of_each_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 4096))
    spawned = machine_caps(workers=3)
    assert (spawned.connections, spawned.processes) == (3 * (4096 - RESERVED_FILES), 3)
    assert spawned.why["connections"] == (
        "3 generator processes × 4,032 connections, the open-file limit less 64"
    )
    in_process = machine_caps(workers=0)  # the caller's own soft limit: it is not raised for it
    assert (in_process.connections, in_process.processes) == (1024 - RESERVED_FILES, 1)


def test_a_worker_raises_its_soft_open_file_limit_to_the_hard_one() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    lowered = min(256, hard)
    script = (
        "import resource\n"
        "from sk_loadagent.engine._caps import raise_open_files_limit\n"
        "raise_open_files_limit()\n"
        "print(*resource.getrlimit(resource.RLIMIT_NOFILE))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard)),
    )
    raised = min(hard, 1 << 20) if hard != resource.RLIM_INFINITY else 1 << 20
    assert done.stdout.split() == [str(raised), str(hard)]


def test_the_memory_a_profile_needs_part_by_part() -> None:
    profile = build_profile(
        spec(type="load", rps=100, duration="10s", rampUp="0s", timeout="2s"), base_url=URL
    )
    need = memory_need(profile, processes=2)
    assert need.backlog == 100 * 2 * BACKLOG_BYTES  # peak rate × timeout requests may wait for a connection
    assert need.samples == 1000 * SAMPLE_BYTES
    assert need.connections == 400 * CONNECTION_BYTES  # 2 × peak × timeout connections, no body
    assert need.windows == 12 * WINDOW_BYTES * 5  # schedule + timeout seconds, in 2 workers + their copies
    assert need.total == need.backlog + need.samples + need.connections + need.windows


def test_a_connection_limit_the_engine_picks_itself_is_lowered_to_the_cap_not_refused() -> None:
    caps = Caps(memory=None, connections=50)
    profile = build_profile(spec(type="load", rps=1000, duration="1s"), base_url=URL, caps=caps)
    assert profile.max_connections == 50


def test_build_profile_names_the_test_and_field_for_an_api_caller() -> None:
    caps = Caps(memory=None, connections=100, why={"connections": "a test"})
    with pytest.raises(InputError) as refused:
        build_profile(spec(type="concurrency", vus=101, duration="1s"), base_url=URL, caps=caps)
    assert str(refused.value) == (
        "test 'concurrency': vus: expected at most 100 virtual users, one connection each (the connections "
        "cap: a test; --cap connections=N changes it), got 101"
    )


def test_a_custom_test_names_the_stage_that_drives_the_rate() -> None:
    test = spec(type="custom", stages=[{"duration": "1s", "target": 5}, {"duration": "1s", "target": 1e9}])
    with pytest.raises(InputError) as refused:
        build_profile(test, base_url=URL, caps=Caps(memory=GIB, connections=None))
    assert str(refused.value).startswith(
        "test 'custom': stages[1].target: expected a test whose generator needs at most 1 GiB of memory"
    )


def test_several_caps_are_reported_at_once() -> None:
    caps = Caps(memory=None, connections=10, duration=60.0, body=10)
    test = spec(type="load", rps=5, duration="2m", maxConnections=20, body="x" * 11)
    with pytest.raises(InputError) as refused:
        build_profile(test, base_url=URL, caps=caps)
    assert [p.field for p in refused.value.problems] == ["duration", "body", "maxConnections"]
