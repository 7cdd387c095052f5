"""build_profile for every test type (pure: no network), describe() texts and input errors."""

from __future__ import annotations

import importlib.util

import pytest

from sk_loadagent.engine import LoadProfile, build_profile
from sk_loadagent.errors import InputError
from sk_loadagent.models.plan import TestSpec

BASE = "http://127.0.0.1:8080"


def profile(**fields: object) -> LoadProfile:
    return build_profile(TestSpec.model_validate(fields), base_url=BASE)


def spans(p: LoadProfile) -> list[tuple[str, float, float, bool]]:
    return [(ph.name, ph.start, ph.end, ph.measured) for ph in p.phases]


def test_load_ramps_then_holds_and_only_the_hold_is_measured() -> None:
    p = profile(type="load", rps=100, duration="5m", endpoint="/checkout")
    assert spans(p) == [("ramp-up", 0.0, 30.0, False), ("steady", 30.0, 330.0, True)]
    assert p.total_duration == 330.0
    assert p.url == "http://127.0.0.1:8080/checkout"
    assert p.method == "GET"
    assert p.timeout == 10.0
    assert p.max_connections == 2000  # 2 x 100 rps x 10 s
    assert p.describe() == (
        "open model: ramp 0→100 rps over 30s, hold 100 rps for 5m (measured); timeout 10s; ≤ 2000 connections"
    )


def test_load_defaults_are_overridable() -> None:
    short = profile(type="load", rps=10, duration="20s")
    assert spans(short) == [("ramp-up", 0.0, 2.0, False), ("steady", 2.0, 22.0, True)]  # 10 % of 20 s
    none = profile(
        type="load", rps=10, duration="20s", rampUp="0s", warmup="5s", timeout="2s", maxConnections=7
    )
    assert spans(none) == [("warmup", 0.0, 5.0, False), ("steady", 5.0, 25.0, True)]
    assert none.timeout == 2.0
    assert none.max_connections == 7
    assert profile(type="load", rps=1, duration="10s", rampUp="0s").max_connections == 64  # the floor
    assert profile(type="load", rps=1000, duration="10s", rampUp="0s").max_connections == 10_000  # the cap


def test_spike_has_baseline_spike_and_recovery_phases() -> None:
    p = profile(type="spike", rps=500, duration="1m")
    assert spans(p) == [
        ("baseline", 0.0, 10.0, False),
        ("spike", 10.0, 71.0, True),  # the 1 s jump, then the hold for the duration
        ("recovery", 71.0, 81.0, True),
    ]
    assert p.phases[0].target_rps == 50.0  # 10 % of rps
    assert p.phases[2].target_rps == 50.0
    assert "hold 50 rps for 10s (baseline, not measured), ramp 50→500 rps over 1s" in p.describe()
    custom = profile(
        type="spike", rps=100, duration="8s", baselineRps=20, baselineDuration="2s", recoveryWindow="3s"
    )
    assert spans(custom) == [
        ("baseline", 0.0, 2.0, False),
        ("spike", 2.0, 11.0, True),
        ("recovery", 11.0, 14.0, True),
    ]
    assert custom.phases[0].target_rps == 20.0


def test_soak_takes_its_duration_or_the_execution_window() -> None:
    p = profile(type="soak", rps=50, duration="1h")
    assert spans(p) == [("ramp-up", 0.0, 30.0, False), ("steady", 30.0, 3630.0, True)]
    assert p.soak_window == 360.0  # duration / 10
    assert p.describe().endswith(
        "hold 50 rps for 1h (measured); timeout 10s; ≤ 1000 connections; trend windows of 6m"
    )
    test = TestSpec.model_validate({"type": "soak", "rps": 50, "window": "30s"})
    windowed = build_profile(test, base_url=BASE, execution_window=600)
    assert windowed.total_duration == 600.0  # the window bounds the whole run, ramp included
    assert windowed.soak_window == 30.0
    with pytest.raises(InputError) as err:
        build_profile(test, base_url=BASE)
    assert err.value.problems[0].field == "duration"
    assert "executionWindow" in str(err.value)


def test_stress_steps_up_to_max_and_describes_its_stop_rule() -> None:
    p = build_profile(TestSpec.model_validate({"type": "stress", "rps": 100}), base_url=BASE, slo_p95_ms=300)
    assert [ph.target_rps for ph in p.phases] == [25, 50, 75, 100, 125, 150, 175, 200]
    assert [ph.name for ph in p.phases][:2] == ["step-1", "step-2"]
    assert all(ph.measured and ph.end - ph.start == 10.0 for ph in p.phases)
    assert p.stress is not None
    assert p.stress.slo_p95_ms == 300
    assert p.stress.error_ceiling == 0.05
    assert p.describe() == (
        "open model: step 25→200 rps by 25 rps every 10s (8 steps, each measured); timeout 10s; "
        "≤ 4000 connections; stop at the first step with p95 > 300 ms, error rate > 5 % or achieved < 90 % "
        "of the offered rate; then bisect between the last rate that held and the first that broke with 10s "
        "probes, to within 5 %, 2m in all"
    )
    odd = profile(type="stress", maxRps=100, startRps=30, stepRps=30, stepDuration="5s", errorCeiling=0.02)
    assert [ph.target_rps for ph in odd.phases] == [30, 60, 90, 100]
    assert odd.stress is not None
    assert odd.stress.error_ceiling == 0.02
    assert profile(type="stress", maxRps=80).phases[0].target_rps == 10  # maxRps / 8


def test_concurrency_is_a_closed_model_with_think_time() -> None:
    p = profile(type="concurrency", vus=10, duration="1m", thinkTime="1s", rampUp="10s")
    assert p.model == "closed"
    assert spans(p) == [("ramp-up", 0.0, 10.0, False), ("steady", 10.0, 70.0, True)]
    assert p.phases[1].target_vus == 10
    assert p.think_time == 1.0
    assert p.max_connections == 10
    assert p.describe() == (
        "closed model: ramp 0→10 VUs over 10s, hold 10 VUs for 1m (measured); think time 1s; timeout 10s; "
        "one connection per VU"
    )
    with pytest.raises(InputError, match="maxConnections"):
        profile(type="concurrency", vus=10, duration="1m", maxConnections=5)


def test_latency_sweeps_payload_sizes_one_phase_each() -> None:
    p = profile(type="latency", duration="20s")
    assert p.method == "POST"
    assert p.payload_sizes == [0, 1024, 16384, 131072]
    assert [(ph.name, ph.payload_bytes, ph.target_rps) for ph in p.phases] == [
        ("payload-0", 0, 20.0),
        ("payload-1024", 1024, 20.0),
        ("payload-16384", 16384, 20.0),
        ("payload-131072", 131072, 20.0),
    ]
    assert p.phases[-1].end == 20.0
    with pytest.raises(InputError, match="distinct"):
        profile(type="latency", duration="20s", payloadSizes=[10, 10])


def test_custom_stages_are_linear_or_stepped_by_executor() -> None:
    stages = [{"duration": "10s", "target": 50}, {"duration": "5s", "target": 0}]
    linear = profile(type="custom", stages=stages)
    assert [(ph.name, ph.target_rps) for ph in linear.phases] == [("stage-1", 25.0), ("stage-2", 25.0)]
    stepped = profile(type="custom", stages=stages, executor="constant-arrival-rate")
    assert [ph.target_rps for ph in stepped.phases] == [50.0, 0.0]
    vus = profile(type="custom", stages=stages, executor="ramping-vus")
    assert vus.model == "closed"
    assert [ph.target_vus for ph in vus.phases] == [50, 0]
    with pytest.raises(InputError) as err:
        profile(type="custom", stages=[{"duration": "10s", "target": 0}])
    assert err.value.problems[0].field == "stages"


def test_method_headers_and_body() -> None:
    p = profile(type="load", rps=1, duration="1s", body={"a": 1}, headers={"X-Team": "perf"})
    assert p.method == "POST"
    assert p.body == '{"a":1}'
    assert p.headers == {"X-Team": "perf", "Content-Type": "application/json"}
    test = TestSpec.model_validate({"type": "load", "rps": 1, "duration": "1s", "method": "put"})
    assert build_profile(test, base_url=BASE, method="DELETE").method == "PUT"
    plain = TestSpec.model_validate({"type": "load", "rps": 1, "duration": "1s"})
    assert build_profile(plain, base_url=BASE, method="delete", headers={"A": "1"}).method == "DELETE"
    with pytest.raises(InputError, match="one line"):
        profile(type="load", rps=1, duration="1s", headers={"X": "a\r\nInjected: yes"})
    with pytest.raises(InputError, match="computed from the body"):
        profile(type="load", rps=1, duration="1s", headers={"Content-Length": "5"})


def test_bad_base_url_names_the_field() -> None:
    with pytest.raises(InputError) as err:
        build_profile(
            TestSpec.model_validate({"type": "load", "rps": 1, "duration": "1s"}), base_url="ftp://x"
        )
    assert err.value.problems[0].field == "baseUrl"
    assert "test 'load'" in str(err.value)


@pytest.mark.skipif(importlib.util.find_spec("h2") is not None, reason="h2 is installed")
def test_http2_without_h2_says_how_to_install_it() -> None:
    with pytest.raises(InputError, match=r"pip install 'sk-loadagent\[http2\]'"):
        profile(type="load", rps=1, duration="1s", http2=True)


def test_fast_transport_speaks_https_but_not_through_a_proxy() -> None:
    test = TestSpec.model_validate({"type": "load", "rps": 1, "duration": "1s", "transport": "fast"})
    assert build_profile(test, base_url="https://127.0.0.1:8443").transport == "fast"
    with pytest.raises(InputError) as caught:
        build_profile(test, base_url=BASE, proxy="http://127.0.0.1:3128")
    assert str(caught.value) == (
        "test 'load': transport: expected httpx or auto for HTTP/2 or through a proxy "
        "(the fast transport speaks HTTP/1.1 directly)"
    )
    assert build_profile(test, base_url=BASE).transport == "fast"
