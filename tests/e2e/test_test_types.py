"""Each test type end to end against the sample service: what perf-metrics.json's verdict says (issue 3).

Every test writes a plan, starts the sample service with knobs that give it a known behaviour (a capacity,
a leak, a fixed service time), runs the suite through the agent (``run_suite``, as ``sk-loadagent run``
does, with a SQLite memory) and asserts on the perf-metrics.json it wrote.

The numbers follow from the service's knobs: an endpoint serving ``capacity`` requests at a time for
``latencyMs`` each delivers at most capacity / latencyMs requests a second (asyncio timers add about a
millisecond, so a little less); one retaining ``leakKbPerRequest`` at ``rps`` grows by rps × leak.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Unpack

import pytest
import yaml

from sk_loadagent.engine import RunOptions
from sk_loadagent.memory import open_store
from sk_loadagent.models.context import RunContext
from sk_loadagent.planners.agent import SuiteRequest, run_suite
from sk_loadagent.publish import paths
from sk_loadagent.sample_service import Knobs, SampleService

Doc = dict[str, Any]

MODULE = "VetClinicSample"
CHECKOUT = "/checkout/submit"
APPOINTMENTS = "/appointments/book"
NOTIFICATIONS = "/notifications/send"
BODY = {"clinicId": "clinic-042", "petId": "pet-7781"}


async def run_plan(
    tmp_path: Path,
    tests: list[Doc],
    *,
    thresholds: Doc | None = None,
    max_retries: int = 0,
    **knobs: Unpack[Knobs],
) -> Doc:
    """Run a one-module plan against a fresh sample service and return the perf-metrics.json it wrote."""
    plan = {"traceId": f"e2e-{tests[0]['type']}", "moduleId": MODULE, "editionId": "vetclinic"}
    plan_path = tmp_path / "test.plan.yaml"
    plan_path.write_text(yaml.safe_dump({**plan, "method": "POST", "tests": tests}), encoding="utf-8")
    threshold_files = []
    if thresholds is not None:
        threshold_path = tmp_path / "perf-thresholds.yaml"
        threshold_path.write_text(
            yaml.safe_dump({"module": MODULE, "thresholds": [thresholds]}), encoding="utf-8"
        )
        threshold_files.append(str(threshold_path))
    out = tmp_path / "perf"
    store = open_store(tmp_path / "memory.sqlite")
    try:
        async with SampleService(seed=3, **knobs) as service:
            await run_suite(
                SuiteRequest(plan=str(plan_path), thresholds=threshold_files, target_url=service.url),
                RunContext(),
                store=store,
                out_dir=out,
                options=RunOptions(workers=1),
                target_pid=service.pid,
                max_retries=max_retries,  # none by default: each test here checks one run's figures
            )
    finally:
        store.close()
    document: Doc = json.loads((out / paths.PERF_METRICS).read_text(encoding="utf-8"))
    return document


def only_test(document: Doc) -> Doc:
    """The single test of a one-test suite (the top level repeats it, plus ``tests``)."""
    tests = document.get("tests") or [document]
    assert len(tests) == 1
    return dict(tests[0])


def within(value: float, expected: float, relative: float) -> bool:
    return abs(value - expected) <= relative * expected


def timeline_in(test: Doc, phase: str) -> list[Doc]:
    return [p for p in test["timeline"] if p.get("phase") == phase]


# ---------------------------------------------------------------------------------------------- load


LOAD_RPS = 200


async def test_load_measures_only_the_hold_at_the_target_rate(tmp_path: Path) -> None:
    test = only_test(
        await run_plan(
            tmp_path,
            [
                {
                    "type": "load",
                    "endpoint": CHECKOUT,
                    "rps": LOAD_RPS,
                    "rampUp": "1s",
                    "warmup": "1s",
                    "duration": "3s",
                    "body": BODY,
                }
            ],
        )
    )
    phases = {p["name"]: p for p in test["phases"]}
    assert [(n, p["measured"]) for n, p in phases.items()] == [
        ("ramp-up", False),
        ("warmup", False),
        ("steady", True),
    ]
    # The measured figures are the hold's alone: ramp-up and warm-up requests are sampled but not counted.
    assert test["requests"] == phases["steady"]["requests"] == test["generator"]["requests"]
    assert test["measurement"]["samples"] > test["requests"]
    assert test["testDuration"] == "3s"
    assert test["targetRps"] == LOAD_RPS
    assert within(test["rps"], LOAD_RPS, 0.05)
    assert test["errorRate"] == 0

    generator = test["generator"]
    assert generator["workers"] == 1
    assert generator["cpuSeconds"] > 0
    assert 0 < generator["cpuPct"] < 100
    assert generator["maxInFlight"] >= 1
    # Saturated exactly when the generator fell behind (late starts, drops, CPU), and then it says so.
    generator_warnings = [w for w in test.get("warnings") or [] if w.startswith("generator:")]
    assert generator["saturated"] is bool(generator_warnings)
    assert generator["saturated"] is (
        generator["lateStarts"] > 0.01 * generator["requests"]
        or generator["dropped"] > 0
        or generator["cpuPct"] > 90
    )

    # One point a second from t0, each with the fields of issue 3; the ramp's second is slower.
    timeline = test["timeline"]
    assert [p["t"] for p in timeline][:5] == [0.0, 1.0, 2.0, 3.0, 4.0]
    for point in timeline[:5]:
        assert {"rps", "p50", "p95", "p99", "errors", "inFlight"} <= point.keys()
    assert timeline[0]["phase"] == "ramp-up"
    assert timeline[0]["rps"] < 0.75 * LOAD_RPS
    steady = timeline_in(test, "steady")
    assert len(steady) == 3
    assert all(within(p["rps"], LOAD_RPS, 0.1) for p in steady)


# ---------------------------------------------------------------------------------------------- spike

SPIKE_CAPACITY = 2  # 2 slots of ~21 ms: about 93 rps, so the 150 rps spike queues
SPIKE_RECOVERY_WINDOW_S = 4


@pytest.mark.slow
async def test_spike_reports_the_recovery_of_a_service_that_queues(tmp_path: Path) -> None:
    test = only_test(
        await run_plan(
            tmp_path,
            [
                {
                    "type": "spike",
                    "endpoint": CHECKOUT,
                    "baselineRps": 20,
                    "baselineDuration": "2s",
                    "rps": 150,
                    "duration": "2s",
                    "recoveryWindow": f"{SPIKE_RECOVERY_WINDOW_S}s",
                    "body": BODY,
                }
            ],
            capacity=SPIKE_CAPACITY,
        )
    )
    spike = test["spike"]
    assert within(spike["baselineRps"], 20, 0.1)
    assert spike["peakRps"] >= 0.9 * 150
    # Over capacity the queue grows through the spike: its p95 is many times the baseline's.
    assert spike["spikeLatencyMs"] > 5 * spike["baselineLatencyMs"]
    # The spike leaves ~100 requests queued; at ~93 rps served against 20 offered they drain in about
    # 1.5 s, which the 1-second windows round up. Recovery is > 0, finite and inside the recovery window.
    assert spike["recovered"] is True
    assert 1000 <= spike["recoveryTimeMs"] <= 3000
    assert spike["recoveryTimeMs"] < SPIKE_RECOVERY_WINDOW_S * 1000
    assert "baseline p95" in spike["recoveryCriterion"]
    recovery = timeline_in(test, "recovery")
    assert recovery[0]["p95"] > 5 * spike["baselineLatencyMs"]
    assert recovery[-1]["p95"] < 2 * spike["baselineLatencyMs"]


# ---------------------------------------------------------------------------------------------- stress

SERIAL_FAST_MS = 10.0  # one request at a time: about 100 rps (a little less with timer overhead)
SERIAL_SLOW_MS = 25.0  # about 40 rps; at most 4 wait, the excess is answered 503 at once


def closed_capacity(name: str, endpoint: str) -> Doc:
    """A few VUs keep a serial endpoint always busy: its throughput is its true capacity."""
    return {
        "type": "concurrency",
        "name": name,
        "endpoint": endpoint,
        "vus": 3,
        "duration": "2s",
        "body": BODY,
    }


def stress_of(name: str, endpoint: str, rps: float, start: float, step: float) -> Doc:
    test = {"type": "stress", "name": name, "endpoint": endpoint, "rps": rps, "startRps": start}
    return {**test, "stepRps": step, "stepDuration": "2s", "timeout": "3s", "body": BODY}


@pytest.mark.slow
async def test_stress_finds_the_capacity_of_two_serial_services(tmp_path: Path) -> None:
    # Issue 8, items 4 and 5: a stress test against a serial service held at one step and broke at the next,
    # reported the lower step as its breaking point and was retried three times. The probes after the steps
    # now find the capacity, and a capacity below the design limit escalates at once, without a retry.
    # The true capacity is measured by closed-model runs before and after (a shared machine moves it a
    # little); the breaking point must be within 10 % of it. No p95 SLO beyond the default 800 ms: a short
    # stall of a loaded machine must not break a step; overload shows as a rate not delivered, errors, or a
    # latency rising through a probe.
    document = await run_plan(
        tmp_path,
        [
            closed_capacity("fast-before", CHECKOUT),
            closed_capacity("slow-before", APPOINTMENTS),
            stress_of("fast-stress", CHECKOUT, rps=160, start=40, step=40),
            stress_of("slow-stress", APPOINTMENTS, rps=30, start=15, step=15),
            closed_capacity("fast-after", CHECKOUT),
            closed_capacity("slow-after", APPOINTMENTS),
        ],
        thresholds={"errorRateMax": 0.05},
        capacity=1,
        jitter=0,
        endpoints={
            CHECKOUT: {"latency_ms": SERIAL_FAST_MS},
            APPOINTMENTS: {"latency_ms": SERIAL_SLOW_MS, "queue_limit": 4},
        },
        max_retries=3,
    )
    fast_before, slow_before, fast, slow, fast_after, slow_after = document["tests"]
    for test, before, after, nominal in (
        (fast, fast_before, fast_after, 1000 / SERIAL_FAST_MS),
        (slow, slow_before, slow_after, 1000 / SERIAL_SLOW_MS),
    ):
        low, high = sorted((before["rps"], after["rps"]))
        assert 0.75 * nominal < low <= high < 1.05 * nominal
        stress = test["stress"]
        assert 0.9 * low <= stress["breakingPointRps"] <= 1.1 * high, (stress, low, high)
        steps = stress["steps"]
        probes = [s for s in steps if s.get("probe")]
        ladder = [s for s in steps if not s.get("probe")]
        # The ladder stops at its first broken step; every probe is listed, lasts 5 s and lies inside the
        # bracket the ladder left; the probes narrowed it to within 5 % of the lowest rate that broke.
        assert [s["held"] for s in ladder] == [True] * (len(ladder) - 1) + [False]
        assert probes
        assert all(s["seconds"] == 5.0 for s in probes)
        assert all(ladder[-2]["rps"] < s["rps"] < ladder[-1]["rps"] for s in probes)
        assert stress["firstFailedRps"] - stress["breakingPointRps"] <= 0.05 * stress["firstFailedRps"]
        # The test's figures are the held ladder steps'.
        assert any(
            w.startswith("stress: latency, errors and rate are those of the") for w in test["warnings"]
        )
    assert [s["rps"] for s in fast["stress"]["steps"][:3]] == [40, 80, 120]
    assert slow["stress"]["failureMode"] == "errors: http5xx"

    # The fast service cannot reach its 160 rps design limit: a deterministic failure, escalated at once.
    assert fast["status"] == "fail"
    assert fast["retry"]["outcome"] == "escalated"
    reason = fast["retry"]["reason"]
    assert reason.startswith(
        f"stress: capacity {fast['stress']['breakingPointRps']:g} rps, below the design "
    )
    assert reason.endswith("broke from it): a retry would reproduce it: escalate")
    assert slow["status"] != "fail"
    assert "stress: held up to" in " ".join(slow["reasons"])
    # Nothing was retried: every test ran once.
    assert {t.get("retryAttempt") for t in document["tests"]} == {0}


# ---------------------------------------------------------------------------------------------- soak

SOAK_RPS = 100
LEAK_KB = 64
LEAK_MB_PER_MIN = SOAK_RPS * LEAK_KB / 1024 * 60  # 375 MiB a minute


@pytest.mark.slow
async def test_soak_reports_the_memory_slope_of_a_leak_and_a_flat_control(tmp_path: Path) -> None:
    soak = {
        "type": "soak",
        "rps": SOAK_RPS,
        "rampUp": "500ms",
        "duration": "4s",
        "window": "1s",
        "body": BODY,
    }
    document = await run_plan(
        tmp_path,
        [
            {**soak, "name": "leaking", "endpoint": NOTIFICATIONS},
            {**soak, "name": "control", "endpoint": APPOINTMENTS},
        ],
        endpoints={NOTIFICATIONS: {"leak_kb_per_request": LEAK_KB}},
    )
    leaking, control = document["tests"]
    for test in (leaking, control):
        windows = test["soak"]["windows"]
        assert len(windows) == 4
        assert all(w["memoryMb"] is not None and within(w["rps"], SOAK_RPS, 0.1) for w in windows)

    report = leaking["soak"]
    assert within(report["memorySlopeMbPerMin"], LEAK_MB_PER_MIN, 0.2)
    assert report["memorySlopePValue"] < 0.01
    assert report["degrading"] is True
    assert report["verdict"].startswith("degrading: ")
    assert "memory +" in report["verdict"]
    assert within(leaking["resources"]["memorySlopeMbPerMin"], LEAK_MB_PER_MIN, 0.2)

    report = control["soak"]
    assert abs(report["memorySlopeMbPerMin"]) < 5
    assert report["degrading"] is False
    # A degrading soak is at least degraded, whatever its score; the stable one is not held back.
    assert leaking["status"] in ("degraded", "fail")
    assert any(r.startswith("soak degrading: ") and r.endswith("→ degraded") for r in leaking["reasons"])
    assert any(r.startswith("soak stable") for r in control["reasons"])
    assert report["verdict"].startswith("stable")
    assert report["latencySlopeMsPerMin"] is not None


# ---------------------------------------------------------------------------------------------- concurrency

VUS = 8
THINK_MS = 50
CONCURRENCY_SECONDS = 3


async def test_concurrency_holds_vus_sessions_with_think_time(tmp_path: Path) -> None:
    test = only_test(
        await run_plan(
            tmp_path,
            [
                {
                    "type": "concurrency",
                    "endpoint": APPOINTMENTS,
                    "vus": VUS,
                    "thinkTime": f"{THINK_MS}ms",
                    "duration": f"{CONCURRENCY_SECONDS}s",
                    "body": BODY,
                }
            ],
            latency_ms=20,
            jitter=0,
        )
    )
    # Closed model: no target rate, latency timed from the actual send.
    assert "targetRps" not in test
    assert test["measurement"]["timedFrom"] == "actual-send"
    assert test["phases"][0]["targetVus"] == VUS
    generator = test["generator"]
    assert max(p["inFlight"] for p in test["timeline"]) <= VUS
    assert VUS // 2 <= generator["maxInFlight"] <= VUS
    # Each session keeps its connection open: one per VU, never reopened.
    assert generator["connectionsOpened"] == VUS
    # Each session loops request → think → request: VUS × duration / (latency + think) requests.
    cycle_s = (test["latency"]["mean"] + THINK_MS) / 1000
    assert within(test["requests"], VUS * CONCURRENCY_SECONDS / cycle_s, 0.1)
    assert within(test["requests"], VUS * CONCURRENCY_SECONDS / ((20 + THINK_MS) / 1000), 0.15)
    assert test["errorRate"] == 0


# ---------------------------------------------------------------------------------------------- latency

SIZES = [0, 4096, 65536, 262144]
LATENCY_RPS = 40


async def test_latency_profile_reports_each_payload_size(tmp_path: Path) -> None:
    test = only_test(
        await run_plan(
            tmp_path,
            [
                {
                    "type": "latency",
                    "endpoint": CHECKOUT,
                    "rps": LATENCY_RPS,
                    "duration": f"{len(SIZES)}s",
                    "payloadSizes": SIZES,
                }
            ],
        )
    )
    profile = test["latencyProfile"]
    assert [p["sizeBytes"] for p in profile] == SIZES
    for entry in profile:
        assert entry["requests"] == LATENCY_RPS  # one second of each size
        assert entry["errorRate"] == 0
        assert 0 < entry["latency"]["p50"] <= entry["latency"]["p95"]
    assert [p["name"] for p in test["phases"]] == [f"payload-{size}" for size in SIZES]
    # The bodies really were those sizes: the uploads alone account for this many bytes.
    assert test["throughputBytes"] >= LATENCY_RPS * sum(SIZES)


# ---------------------------------------------------------------------------------------------- custom

CUSTOM_STAGES = [
    {"duration": "1s", "target": 100},  # ramp 0 → 100
    {"duration": "1s", "target": 100},  # hold
    {"duration": "2s", "target": 200},  # ramp 100 → 200
]
# The mean of the linear schedule over each second.
CUSTOM_EXPECTED_RPS = [50, 100, 125, 175]


async def test_custom_stages_are_followed_second_by_second(tmp_path: Path) -> None:
    test = only_test(
        await run_plan(
            tmp_path, [{"type": "custom", "endpoint": CHECKOUT, "stages": CUSTOM_STAGES, "body": BODY}]
        )
    )
    assert [(p["name"], p["measured"], p["targetRps"]) for p in test["phases"]] == [
        ("stage-1", True, 50),
        ("stage-2", True, 100),
        ("stage-3", True, 150),
    ]
    achieved = [p["rps"] for p in test["timeline"] if p.get("phase")]
    assert len(achieved) == len(CUSTOM_EXPECTED_RPS)
    for got, expected in zip(achieved, CUSTOM_EXPECTED_RPS, strict=True):
        assert abs(got - expected) <= max(3, 0.08 * expected), (achieved, CUSTOM_EXPECTED_RPS)
    assert within(test["requests"], sum(CUSTOM_EXPECTED_RPS), 0.03)
