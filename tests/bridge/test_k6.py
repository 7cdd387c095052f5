"""runner: k6 — the user's script generates the load; every request comes back from k6's JSON output."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sk_loadagent.analysis import summarize
from sk_loadagent.bridge import BridgeRun, run_script
from sk_loadagent.bridge._k6 import K6Points, blocked_ranges
from sk_loadagent.bridge._results import windows_of
from sk_loadagent.errors import InputError, TargetNotAllowedError, TargetUnreachableError
from sk_loadagent.measurements import Outcome, Samples
from sk_loadagent.sample_service import SampleService

Script = Callable[[str, str], Path]

RATE_SCRIPT = """
import http from "k6/http";
export const options = { scenarios: { s: { executor: "constant-arrival-rate", rate: 20, timeUnit: "1s",
  duration: "%s", preAllocatedVUs: 5 } } };
export default function () { http.get(`${__ENV.BASE_URL}/checkout/submit`); }
"""


def _point(metric: str, time: str, value: float, **tags: str) -> str:
    data = {"time": time, "value": value, "tags": tags}
    return json.dumps({"metric": metric, "type": "Point", "data": data})


def test_points_become_samples_timed_from_their_send(tmp_path: Path) -> None:
    lines = [
        json.dumps({"type": "Metric", "data": {"name": "http_req_duration"}, "metric": "http_req_duration"}),
        _point("http_req_duration", "2026-11-30T08:00:00.100000000Z", 20.0, status="200"),
        _point(
            "http_req_duration",
            "2026-11-30T08:00:00.150000500Z",
            100.0,
            status="503",
            expected_response="false",
        ),
        _point("http_req_duration", "2026-11-30T09:00:01.300+01:00", 5.0, status="0", error_code="1212"),
        _point(
            "http_req_duration", "2026-11-30T08:00:01.400Z", 30.0, status="302", expected_response="false"
        ),
        _point("dropped_iterations", "2026-11-30T08:00:01.5Z", 2.0),
        _point("vus", "2026-11-30T08:00:01Z", 7.0),
        _point("data_received", "2026-11-30T08:00:01Z", 1000.0),
    ]
    path = tmp_path / "points.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    points = K6Points()
    points.read(path)
    t0 = min(e - s for e, s in zip(points.end, points.seconds, strict=True))
    samples = points.samples(t0)
    # epoch seconds in float64 keep about a microsecond
    assert samples.start.tolist() == pytest.approx([0.0, 0.03, 1.245, 1.32], abs=1e-6)
    assert samples.outcome.tolist() == [
        Outcome.HTTP_5XX,
        Outcome.OK,
        Outcome.CONNECT_REFUSED,
        Outcome.UNEXPECTED_STATUS,
    ]
    assert samples.latency[[0, 1, 3]].tolist() == pytest.approx([0.1, 0.02, 0.03])
    assert np.isnan(samples.latency[2])  # no response: no latency, as in the engine
    assert (points.dropped, points.max_vus, int(samples.bytes_in.sum())) == (2, 7, 1000)


def test_blocked_ranges_leave_exactly_loopback_and_the_allowed_address() -> None:
    ranges, warning = blocked_ranges(["10.1.2.3"])
    assert warning is None
    networks = [ipaddress.ip_network(r) for r in ranges]
    for address, blocked in [
        ("127.0.0.1", False),
        ("127.255.0.9", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("10.1.2.4", True),
        ("192.0.2.2", True),
        ("128.0.0.1", True),
        ("::2", True),
        ("2001:db8::1", True),
    ]:
        ip = ipaddress.ip_address(address)
        assert any(ip in n for n in networks) is blocked, address
    assert blocked_ranges(["*.example.test"])[0] == []


async def test_every_request_of_the_script_is_judged(service: SampleService, script: Script) -> None:
    result = await run_script(BridgeRun("k6", script("rate.js", RATE_SCRIPT % "1s"), service.url, duration=5))
    metrics = summarize(result, test_type="load")
    # 20/s for 1 s; k6's constant-arrival-rate starts one more at the very end now and then
    assert 20 <= metrics.requests <= 22
    assert metrics.measurement is not None
    assert (metrics.measurement.source, metrics.measurement.generated_by) == ("samples", "k6")
    assert metrics.measurement.approximate is None
    assert metrics.error_rate == 0.0
    assert metrics.latency is not None
    assert metrics.latency.p95 is not None
    exact = np.quantile(result.samples.latency, 0.95, method="inverted_cdf") * 1000
    assert metrics.latency.p95 == pytest.approx(exact)
    assert result.generator.transport == "k6"
    assert result.generator.cpu_seconds > 0


async def test_a_script_that_does_not_run_is_bad_input_with_k6s_own_line(
    service: SampleService, script: Script
) -> None:
    broken = script("broken.js", 'import http from "k6/http";\nexport default function () { http.get( }\n')
    with pytest.raises(InputError) as caught:
        await run_script(BridgeRun("k6", broken, service.url, duration=5))
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(
        f"{broken}: script: expected a k6 script that runs (k6 exited with 107), got GoError: "
        f"file://{broken}: Line 2:"
    )


async def test_k6_is_stopped_at_the_bound(service: SampleService, script: Script) -> None:
    endless = script("endless.js", RATE_SCRIPT % "60s")
    run = BridgeRun("k6", endless, service.url, duration=1.0, startup_grace=0.5)
    result = await run_script(run)
    assert 20 <= len(result.samples) <= 40  # stopped 1.5 s in, not 60 s
    assert result.warnings[0].startswith("k6 was still running at the test's bound (1.5 s: its duration plus")


async def test_a_target_outside_loopback_is_refused_before_k6_starts(script: Script) -> None:
    run = BridgeRun("k6", script("x.js", RATE_SCRIPT % "1s"), "http://192.0.2.10:8080", duration=1)
    with pytest.raises(TargetNotAllowedError, match=r"192\.0\.2\.10"):
        await run_script(run)


async def test_nothing_listening_is_target_unreachable(script: Script, closed_port: int) -> None:
    run = BridgeRun("k6", script("x.js", RATE_SCRIPT % "1s"), f"http://127.0.0.1:{closed_port}", duration=3)
    with pytest.raises(TargetUnreachableError, match="no request reached"):
        await run_script(run)


def test_windows_count_each_request_by_its_start_and_peak_in_flight() -> None:
    n = 4
    samples = Samples(
        start=np.array([0.1, 0.2, 0.95, 1.5]),
        latency=np.array([0.5, 0.1, 0.2, np.nan]),
        service=np.array([0.5, 0.1, 0.2, np.nan]),
        status=np.array([200, 200, 500, 0], np.int16),
        outcome=np.array([0, 0, 2, 4], np.int8),
        bytes_in=np.full(n, 10, np.int64),
        bytes_out=np.full(n, 5, np.int64),
        variant=np.zeros(n, np.int16),
    )
    first, second = windows_of(samples, 1.0, 1.6)
    assert (first.requests, first.outcomes, first.max_in_flight, first.bytes_in) == (3, {0: 2, 2: 1}, 2, 30)
    assert (second.requests, second.outcomes, second.max_in_flight) == (1, {4: 1}, 1)
    assert first.latency.count == 3
    assert second.latency.count == 0  # no response, no latency
