"""runner: locust — the user's locustfile generates the load; Locust's final stats come back, approximate."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sk_loadagent.analysis import summarize
from sk_loadagent.bridge import BridgeRun, run_script
from sk_loadagent.bridge._locust import GUARD, LocustStats
from sk_loadagent.errors import InputError
from sk_loadagent.measurements import Outcome
from sk_loadagent.sample_service import SampleService, samples_dir

SAMPLE_LOCUSTFILE = samples_dir() / "vetclinic" / "scripts" / "locustfile.py"
Script = Callable[[str, str], Path]


def test_final_stats_become_one_rounded_histogram_and_classified_failures(tmp_path: Path) -> None:
    (tmp_path / "stats.json").write_text(
        '[{"name": "/a", "method": "GET", "start_time": 100.0, "last_request_timestamp": 102.0,'
        ' "num_requests": 10, "num_failures": 3, "total_response_time": 250.0, "min_response_time": 9.6,'
        ' "max_response_time": 60.2, "total_content_length": 500,'
        ' "response_times": {"10": 6, "20": 2, "60": 2}}]',
        encoding="utf-8",
    )
    (tmp_path / "locust_failures.csv").write_text(
        "Method,Name,Error,Occurrences\n"
        "GET,/a,HTTPError('503 Server Error: Service Unavailable for url: /a'),2\n"
        "GET,/a,ConnectionRefusedError(111),1\n",
        encoding="utf-8",
    )
    stats = LocustStats()
    assert stats.read(tmp_path)
    window = stats.window()
    assert window.outcomes == {Outcome.OK: 7, Outcome.HTTP_5XX: 2, Outcome.CONNECT_REFUSED: 1}
    assert window.latency.count == 10
    assert window.latency.quantile(0.5) == pytest.approx(0.010, rel=0.01)
    assert window.latency.quantile(0.9) == pytest.approx(0.060, rel=0.01)
    assert (stats.duration, window.bytes_in) == (2.0, 500)


async def test_the_sample_locustfile_runs_and_is_judged_as_approximate(service: SampleService) -> None:
    result = await run_script(BridgeRun("locust", SAMPLE_LOCUSTFILE, service.url, duration=2, users=2))
    metrics = summarize(result, test_type="concurrency")
    assert 8 <= metrics.requests <= 24  # 2 users x 5/s for 2 s, spawned at once
    assert metrics.error_rate == 0.0
    assert metrics.measurement is not None
    assert (metrics.measurement.source, metrics.measurement.generated_by) == ("histogram", "locust")
    assert metrics.measurement.approximate is not None
    assert metrics.measurement.approximate.startswith("Locust gives no raw samples")
    assert metrics.latency is not None
    assert (metrics.latency.p95 or 0) > 4


async def test_a_locustfile_that_does_not_run_is_bad_input_with_locusts_own_line(
    service: SampleService, script: Script
) -> None:
    broken = script("broken.py", "from locust import HttpUser\nclass U(HttpUser)\n    pass\n")
    with pytest.raises(InputError) as caught:
        await run_script(BridgeRun("locust", broken, service.url, duration=2))
    assert str(caught.value) == (
        f"{broken}: script: expected a locustfile that runs (locust exited with 1), "
        "got SyntaxError: expected ':'"
    )


def test_the_guard_refuses_a_name_that_resolves_outside_loopback() -> None:
    # getaddrinfo on a literal address answers locally: nothing is sent anywhere.
    probe = (
        "import gevent.monkey; gevent.monkey.patch_all()\n"
        "import runpy, socket\n"
        f"runpy.run_path({str(GUARD)!r})\n"
        "print(len(socket.getaddrinfo('127.0.0.1', 80)))\n"
        "try:\n    socket.getaddrinfo('192.0.2.77', 80)\nexcept socket.gaierror as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    lines = done.stdout.splitlines()
    assert lines[1] == (
        "[Errno -4] sk-loadagent refused 192.0.2.77: not a loopback host (allow it with allowHosts / "
        "--allow-host)"
    ), done.stderr
