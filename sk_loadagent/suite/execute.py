"""Running the planned tests one after another, sampling the target's resources while each runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from sk_loadagent.engine import (
    LoadProfile,
    Progress,
    RunOptions,
    RunResult,
    build_profile,
    is_loopback,
    run_profile,
)
from sk_loadagent.errors import InputError, TargetNotAllowedError
from sk_loadagent.models.trace_summary import CallPath
from sk_loadagent.observability import Observation, ScrapedMetrics, SpanHarvest
from sk_loadagent.suite.execution_plan import ExecutionPlan, PlannedTest
from sk_loadagent.telemetry import ProcessSampler
from sk_loadagent.telemetry.resources import ResourceSamples


@dataclass
class TestRun:
    """One test's run: what the engine collected and what the target's process did meanwhile."""

    __test__ = False

    index: int
    result: RunResult
    resources: ResourceSamples | None
    spans: SpanHarvest | None = None  # with an observability config: the spans of its sampled requests
    scraped: ScrapedMetrics | None = None  # the target's Prometheus endpoint, scraped while it ran
    cpu_profile: list[CallPath] | None = None  # py-spy's samples of a local target in the steady phase
    notes: list[str] = field(default_factory=list)  # what observing the target could not do


def find_listener_pid(url: str) -> int | None:
    """The pid listening on a loopback URL's port, when this user may see it; None otherwise."""
    parts = urlsplit(url)
    if not parts.hostname or not is_loopback(parts.hostname):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


def profile_of(plan: ExecutionPlan, planned: PlannedTest) -> LoadProfile:
    """The load profile a planned test runs: its schedule, length and peak."""
    return build_profile(
        planned.test,
        base_url=plan.base_url,
        method=planned.method,
        execution_window=plan.execution_window,
        slo_p95_ms=planned.slo_p95_ms,
        slo_error_rate=planned.slo_error_rate,
        caps=plan.caps,
        proxy=plan.proxy,
    )


async def run_one(
    plan: ExecutionPlan,
    planned: PlannedTest,
    options: RunOptions,
    target_pid: int | None,
    progress: Callable[[str, Progress], None] | None,
    watch: Observation | None = None,
) -> TestRun:
    if planned.test.bridged():
        return await _run_bridged(plan, planned, options, target_pid)
    try:
        profile = profile_of(plan, planned)
    except TargetNotAllowedError:
        raise  # about the target, whoever set it (plan, --target-url or a caller): it names the target
    except InputError as exc:
        raise _in_plan(plan, planned, exc) from None
    label = planned.label
    if watch is not None:
        profile = profile.model_copy(update={"trace": watch.trace_context(label)})

    def report(snapshot: Progress) -> None:
        if progress is not None:
            progress(label, snapshot)

    sampler = ProcessSampler(target_pid) if target_pid is not None else None
    if sampler is not None:
        sampler.start()
    scraper = watch.scraper() if watch is not None else None
    if scraper is not None:
        scraper.start()
    profiler = watch.cpu_profiler(profile, target_pid) if watch is not None else None
    if profiler is not None:
        profiler.start()
    try:
        result = await run_profile(profile, options, report)
    except TargetNotAllowedError:
        raise
    except InputError as exc:  # a flow's unique data ran out: named in the plan, like every bad input
        raise _in_plan(plan, planned, exc) from None
    finally:
        resources = sampler.stop() if sampler is not None else None
        scraped = await asyncio.to_thread(scraper.stop) if scraper is not None else None
        stacks = await profiler.stop() if profiler is not None else None
    if resources is None and scraped is not None:
        resources = scraped.resources()  # local pids keep psutil; elsewhere the scrapes measure
    notes = [profiler.warning] if profiler is not None and profiler.warning else []
    return TestRun(
        index=planned.index,
        result=result,
        resources=resources,
        scraped=scraped,
        cpu_profile=stacks,
        notes=notes,
    )


async def _run_bridged(
    plan: ExecutionPlan, planned: PlannedTest, options: RunOptions, target_pid: int | None
) -> TestRun:
    """A test whose load k6 or Locust generates from the user's script (``sk_loadagent.bridge``)."""
    from sk_loadagent.bridge import BridgeRun, run_script

    test = planned.test
    run = BridgeRun(
        runner="k6" if test.runner == "k6" else "locust",
        script=Path(test.script or ""),
        base_url=plan.base_url,
        duration=test.duration or 0.0,
        allow_hosts=list(options.allow_hosts),
        users=test.vus or 1,
        sample_budget=options.sample_budget,
    )
    sampler = ProcessSampler(target_pid) if target_pid is not None else None
    if sampler is not None:
        sampler.start()
    try:
        result = await run_script(run)
    except TargetNotAllowedError:
        raise
    except InputError as exc:
        raise _in_plan(plan, planned, exc) from None
    finally:
        resources = sampler.stop() if sampler is not None else None
    return TestRun(index=planned.index, result=result, resources=resources)


def _in_plan(plan: ExecutionPlan, planned: PlannedTest, exc: InputError) -> InputError:
    """``exc`` (about one test) named by the plan file and the test's place in it."""
    for problem in exc.problems:
        problem.field = (
            f"tests[{planned.index}].{problem.field}" if problem.field else f"tests[{planned.index}]"
        )
    return InputError(plan.plan_file or "test-suite.plan.yaml", exc.problems)


async def run_tests(
    plan: ExecutionPlan,
    *,
    tests: list[int] | None = None,
    options: RunOptions,
    target_pid: int | None = None,
    progress: Callable[[str, Progress], None] | None = None,
) -> list[TestRun]:
    """Run every planned test (or the listed indices), in plan order.

    Only ``options.allow_hosts`` (the host's configuration) may let load leave loopback: the plan's own
    ``allowHosts`` came with the plan, which a caller of the skill, or a model, may have written.
    """
    pid = target_pid if target_pid is not None else find_listener_pid(plan.base_url)
    chosen = [t for t in plan.tests if tests is None or t.index in tests]
    if plan.observability is None:
        return [await run_one(plan, planned, options, pid, progress) for planned in chosen]
    source = plan.observability_source or plan.plan_file or "observability.config.yaml"
    with Observation(plan.observability, source, plan.trace_id) as watch:
        report = watch.progress(progress)
        runs = [await run_one(plan, planned, options, pid, report, watch) for planned in chosen]
        await watch.wait_for_spans(time.monotonic())
        for run in runs:
            run.spans = watch.harvest({trace for trace, _, _ in run.result.traced})
    return runs
