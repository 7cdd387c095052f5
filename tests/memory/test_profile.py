"""The load profile key: runs that put the same load on a service share a key, others do not.

Plan tests are turned into schedules by the engine (``build_profile``), so the keys below are those of the
plans users write.
"""

from __future__ import annotations

from typing import Any

import pytest

from sk_loadagent.engine import build_profile
from sk_loadagent.memory.profile import duration_class, load_profile_key
from sk_loadagent.models.metrics import PerfMetrics, PhaseSummary, StressReport
from sk_loadagent.models.plan import TestSpec


def _planned(test: dict[str, Any], **fields: Any) -> PerfMetrics:
    """perf-metrics with the phases of the test's schedule as the collector stores them."""
    spec = TestSpec.model_validate({"endpoint": "/checkout", **test})
    phases = build_profile(spec, base_url="http://127.0.0.1:8080", slo_p95_ms=300).phases
    return PerfMetrics(
        test_type=spec.type,
        phases=[
            PhaseSummary(
                name=p.name,
                start=p.start,
                end=p.end,
                measured=p.measured,
                target_rps=p.target_rps,
                target_vus=p.target_vus,
            )
            for p in phases
        ],
        **fields,
    )


@pytest.mark.parametrize(
    ("test", "key"),
    [
        ({"type": "load", "rps": 50, "duration": "30s"}, "open 50 rps: steady; 15 s–1 min"),
        ({"type": "load", "rps": 5, "duration": "30s"}, "open 5 rps: steady; 15 s–1 min"),
        (
            {"type": "load", "rps": 50, "duration": "40s", "warmup": "10s", "rampUp": "5s"},
            "open 50 rps: steady; 15 s–1 min",
        ),
        (
            {"type": "spike", "rps": 200, "duration": "30s"},
            "open 200 rps: spike, recovery at 10%; 15 s–1 min",
        ),
        ({"type": "concurrency", "vus": 50, "duration": "8s"}, "closed 50 VUs: steady; under 15 s"),
        ({"type": "soak", "rps": 100, "duration": "45m"}, "open 100 rps: steady; 30 min–2 h"),
        (
            {"type": "latency", "duration": "20s", "payloadSizes": [0, 1024]},
            "open 20 rps: payload-0, payload-1024; 15 s–1 min",
        ),
        (
            {
                "type": "custom",
                "stages": [{"duration": "20s", "target": 40}, {"duration": "20s", "target": 80}],
            },
            "open 60 rps: stage-1 at 30%, stage-2; 15 s–1 min",  # mean offered rates of the ramps,
        ),
    ],
)
def test_the_key_names_rate_shape_and_duration_class(test: dict[str, Any], key: str) -> None:
    assert load_profile_key(_planned(test)) == key


def test_a_stress_test_is_keyed_by_its_design_limit_and_first_step_wherever_it_broke() -> None:
    plan = {"type": "stress", "rps": 400, "startRps": 100, "stepRps": 100, "stepDuration": "10s"}
    full = _planned(plan, stress=StressReport(steps=[], design_limit_rps=400))
    assert full.phases is not None
    broke_early = full.model_copy(update={"phases": full.phases[:2]})  # ramp-up and the first step
    assert (
        load_profile_key(full)
        == load_profile_key(broke_early)
        == "stress to 400 rps: steps from 100 rps, 10s each"
    )


def test_without_phases_the_key_falls_back_to_rate_and_duration_or_is_unknown() -> None:
    assert load_profile_key(PerfMetrics(target_rps=100.0, test_duration=10.0)) == "open 100 rps; under 15 s"
    assert load_profile_key(PerfMetrics(rps=48.0)) is None
    assert load_profile_key(PerfMetrics(test_type="stress")) is None


def test_rates_are_read_to_two_significant_figures_and_durations_in_classes() -> None:
    near = [load_profile_key(PerfMetrics(target_rps=rate, test_duration=30.0)) for rate in (98.6, 99.3, 99.0)]
    assert near == ["open 99 rps; 15 s–1 min"] * 3
    assert [duration_class(s) for s in (14.9, 15, 59.9, 60, 299, 300, 1799, 1800, 7199, 7200)] == [
        "under 15 s",
        "15 s–1 min",
        "15 s–1 min",
        "1–5 min",
        "1–5 min",
        "5–30 min",
        "5–30 min",
        "30 min–2 h",
        "30 min–2 h",
        "2 h or more",
    ]
