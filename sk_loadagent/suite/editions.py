"""What an edition and Studio change in a plan before it runs (spec cycle 14).

- the edition's ``trafficModel.rpsScale`` multiplies every arrival rate of every test, and its
  ``durationScale`` every span of the schedule (duration, ramp-up, warm-up, a spike's baseline and recovery,
  a stress step, a soak window, custom stages, the plan's ``executionWindow``);
- the edition's ``testTypes`` decide which tests run: a test of another type is left out;
- a Studio directive ``run: [soak]`` on the module and edition adds a test of that type when the plan has
  none, shaped from the plan's steady rate (``derived_test``, which the designer uses too).

A plan is written once for the base edition; the edition decides how much of it runs, and how hard. Every
change is a note, so ``sk-loadagent plan`` and a run can say what was changed and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sk_loadagent.models.annotation import StudioAnnotations
from sk_loadagent.models.durations import format_duration
from sk_loadagent.models.edition import Edition
from sk_loadagent.models.plan import TestSpec, TestSuitePlan, TestType

RATE_FIELDS = ("rps", "baseline_rps", "start_rps", "step_rps", "max_rps")
SPAN_FIELDS = (
    "duration",
    "ramp_up",
    "warmup",
    "baseline_duration",
    "recovery_window",
    "step_duration",
    "window",
)
# Without a measured rate to start from, a derived test runs at this rate (requests per second).
DEFAULT_RATE = 20.0
DEFAULT_VUS = 10
# A soak Studio asks for runs this long unless the plan sets an executionWindow (spec cycle 7: soaks find
# leaks and slow degradation, which a few minutes cannot show).
SOAK_DURATION = 1800.0


def scale_rates(data: dict[str, Any], factor: float, *, floor: float = 0.0, vus: bool = False) -> None:
    """Multiply a dumped test's arrival rates by ``factor`` in place (never below ``floor``); with ``vus``,
    its virtual users and every stage target too, else only the stages of an arrival-rate executor."""
    for key in RATE_FIELDS:
        if key in data:
            data[key] = max(floor, round(float(data[key]) * factor, 3))
    if vus and "vus" in data:
        data["vus"] = max(1, round(data["vus"] * factor))
    vu_stages = str(data.get("executor") or "").endswith("-vus")
    if "stages" in data and (vus or not vu_stages):
        data["stages"] = [{**s, "target": round(s["target"] * factor, 3)} for s in data["stages"]]


def _scale_spans(data: dict[str, Any], factor: float) -> None:
    for key in SPAN_FIELDS:
        if key in data:
            data[key] = round(float(data[key]) * factor, 3)
    if "stages" in data:
        data["stages"] = [{**s, "duration": round(s["duration"] * factor, 3)} for s in data["stages"]]


def scaled_test(test: TestSpec, *, rate: float = 1.0, time: float = 1.0) -> TestSpec:
    """The test with its arrival rates times ``rate`` and its schedule's spans times ``time``."""
    data = test.model_dump(by_alias=False, exclude_none=True)
    if rate != 1.0:
        scale_rates(data, rate)
    if time != 1.0:
        _scale_spans(data, time)
    return TestSpec.model_validate(data)


def derived_test(
    test_type: TestType,
    rate: float,
    *,
    vus: int = DEFAULT_VUS,
    name: str | None = None,
    route: dict[str, Any] | None = None,
    has_window: bool = False,
) -> TestSpec | None:
    """A test of ``test_type`` shaped around ``rate``, the rate the service should hold steadily.

    load holds ``rate``; a spike jumps from half of it to twice it; a soak holds it (for the plan's
    executionWindow when ``has_window``, else 30 min); a stress test steps up to twice it with ``rate`` as
    its design limit; a concurrency test runs ``vus`` sessions; a latency sweep runs at most 20 rps. None for
    a custom test, which only a person can shape (it needs stages). ``route`` adds endpoint, method, body
    and headers.
    """
    shapes: dict[str, dict[str, Any]] = {
        "load": {"rps": rate, "ramp_up": 10.0, "duration": 60.0},
        "spike": {
            "rps": 2 * rate,
            "baseline_rps": rate / 2,
            "baseline_duration": 10.0,
            "duration": 30.0,
            "recovery_window": 30.0,
        },
        "soak": {"rps": rate} if has_window else {"rps": rate, "duration": SOAK_DURATION},
        "stress": {"rps": rate, "max_rps": 2 * rate, "step_duration": 10.0},
        "concurrency": {"vus": vus, "duration": 60.0, "think_time": 1.0},
        "latency": {"rps": min(rate, 20.0), "duration": 40.0},
    }
    shape = shapes.get(test_type)
    if shape is None:
        return None
    rates = {k: round(v, 3) for k, v in shape.items() if k in RATE_FIELDS}
    return TestSpec.model_validate({"type": test_type, "name": name, **shape, **rates, **(route or {})})


@dataclass(frozen=True)
class ScheduledTest:
    """A test that runs, under its index in the plan (tests Studio added come after the plan's own)."""

    index: int
    test: TestSpec


@dataclass(frozen=True)
class EditionSchedule:
    tests: list[ScheduledTest]
    execution_window: float | None
    notes: list[str]


def _template(plan: TestSuitePlan) -> TestSpec:
    """The test a Studio-requested test copies its rate and route from: the plan's first load or soak test
    (a spike's or a stress test's rate is a peak, not a rate to hold), else its first test."""
    return next((t for t in plan.tests if t.type in ("load", "soak") and t.rps is not None), plan.tests[0])


def _route(test: TestSpec) -> dict[str, Any]:
    """Endpoint, method, body and headers of ``test`` (those it leaves out resolve from the plan)."""
    route = {"endpoint": test.endpoint, "method": test.method, "body": test.body, "headers": test.headers}
    return {k: v for k, v in route.items() if v}


def shaped_like_plan(
    plan: TestSuitePlan, test_type: TestType, name: str, vus: int = DEFAULT_VUS
) -> TestSpec | None:
    """A ``test_type`` test shaped from the plan: its steady rate, endpoint and body (``derived_test``)."""
    template = _template(plan)
    rate = template.rps if template.type in ("load", "soak") and template.rps else DEFAULT_RATE
    return derived_test(
        test_type,
        rate,
        vus=vus,
        name=name,
        route=_route(template),
        has_window=plan.execution_window is not None,
    )


def _studio_tests(
    plan: TestSuitePlan,
    annotations: StudioAnnotations | None,
    edition_id: str | None,
    vus: int,
) -> tuple[list[ScheduledTest], list[str]]:
    if annotations is None:
        return [], []
    present = {t.type for t in plan.tests}
    added: list[ScheduledTest] = []
    notes: list[str] = []
    for test_type in annotations.requested_tests(plan.module_id, edition_id):
        if test_type in present:
            continue
        test = shaped_like_plan(plan, test_type, f"studio-{test_type}", vus)
        if test is None:
            notes.append(f"Studio asks for a {test_type} test: left out (a custom test needs stages)")
            continue
        added.append(ScheduledTest(len(plan.tests) + len(added), test))
        notes.append(f"Studio asks for a {test_type} test (run: [{test_type}]): added {test.label()}")
    return added, notes


def schedule_for_edition(
    plan: TestSuitePlan,
    edition: Edition | None,
    annotations: StudioAnnotations | None = None,
    edition_id: str | None = None,
) -> EditionSchedule:
    """The tests that run for an edition, scaled by its traffic model, with a note for each change."""
    traffic = edition.traffic_model if edition is not None else None
    vus = traffic.concurrency if traffic is not None and traffic.concurrency else DEFAULT_VUS
    tests = [ScheduledTest(i, t) for i, t in enumerate(plan.tests)]
    added, notes = _studio_tests(plan, annotations, edition_id, vus)
    tests += added
    if edition is not None and edition.test_types is not None:
        enabled = ", ".join(edition.test_types)
        for scheduled in [s for s in tests if not edition.enables(s.test.type)]:
            notes.append(
                f"tests[{scheduled.index}] {scheduled.test.label()}: left out "
                f"(edition {edition.edition_id} runs only {enabled})"
            )
        tests = [s for s in tests if edition.enables(s.test.type)]
    rate = traffic.rps_scale if traffic is not None and traffic.rps_scale is not None else 1.0
    time = traffic.duration_scale if traffic is not None and traffic.duration_scale is not None else 1.0
    window = plan.execution_window
    if edition is not None and (rate != 1.0 or time != 1.0):
        tests = [ScheduledTest(s.index, scaled_test(s.test, rate=rate, time=time)) for s in tests]
        window = round(window * time, 3) if window is not None else None
        notes.append(
            f"edition {edition.edition_id} trafficModel: rates x{rate:g}, durations x{time:g}"
            + (f" (executionWindow {format_duration(window)})" if window is not None else "")
        )
    return EditionSchedule(tests=tests, execution_window=window, notes=notes)
