"""One agent session on the host side: what the host configured (inputs, target, allow-list, budget), the
plans designed and the runs made so far, and the load each planned run would send.

Everything a model may not decide lives here and comes from the command line or the caller's code: the
allow-list, the target, the budget, where artifacts go and which memory store is used.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from sk_loadagent.agent.designer import DesignedSuite
from sk_loadagent.engine import RunOptions
from sk_loadagent.memory import MemoryStore
from sk_loadagent.models.context import RunContext
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.planners.agent import AgentOutcome, SuiteRequest, run_suite
from sk_loadagent.publish.outdir import OutputFolder
from sk_loadagent.suite.execute import profile_of
from sk_loadagent.suite.execution_plan import ExecutionPlan, interpret
from sk_loadagent.suite.inputs import SuiteInputs, load_inputs


@dataclass(frozen=True)
class Budget:
    """What one session may send in all: seconds of scheduled load, the peak arrival rate of any test, the
    virtual users of any closed-model test, and the number of tool calls."""

    load_seconds: float = 300.0
    peak_rps: float = 500.0
    vus: int = 100
    calls: int = 12


@dataclass
class AgentConfig:
    """The host's configuration of a session; a model's arguments never change it."""

    openapi: str | None = None
    metadata: str | None = None
    editions: str | None = None
    annotations: str | None = None
    thresholds: list[str] = field(default_factory=list)
    edition: str | None = None
    target_url: str | None = None
    allow_hosts: tuple[str, ...] = ()
    store: MemoryStore | None = None
    out_dir: Path = Path("perf/agent")
    options: RunOptions = field(default_factory=RunOptions)
    max_retries: int = 0
    budget: Budget = field(default_factory=Budget)


@dataclass(frozen=True)
class PlannedLoad:
    """What a run of a plan would send: seconds of schedule (every attempt counted), peak rate, peak VUs."""

    seconds: float
    peak_rps: float
    vus: int
    target: str


@dataclass
class SessionRun:
    run_id: str
    plan_id: str
    metrics: PerfMetrics
    artifacts: dict[str, str]
    gate_passed: bool
    load_seconds: float


@dataclass
class Session:
    """The state of one session: designed plans and finished runs by id, and the load used so far."""

    config: AgentConfig
    plans: dict[str, DesignedSuite] = field(default_factory=dict)
    runs: dict[str, SessionRun] = field(default_factory=dict)
    load_used: float = 0.0
    calls: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids)}"

    def inputs(self, plan: TestSuitePlan) -> SuiteInputs:
        """The plan with the host's threshold, metadata, edition and annotation files."""
        return load_inputs(
            plan,
            thresholds=self.config.thresholds,
            metadata=self.config.metadata,
            editions=self.config.editions,
            annotations=self.config.annotations,
        )

    def execution_plan(self, plan: TestSuitePlan, target_url: str | None) -> ExecutionPlan:
        """The plan resolved against the host's files, its target checked against the host's allow-list."""
        # A designed plan names no hosts; were one to, only the host's list would count.
        hostless = plan.model_copy(update={"allow_hosts": []})
        return interpret(
            self.inputs(hostless),
            target_url=target_url or self.config.target_url,
            allow_hosts=list(self.config.allow_hosts),
        )


def planned_load(plan: ExecutionPlan, attempts: int) -> PlannedLoad:
    """The load an execution plan schedules: ``attempts`` times its length (retries included)."""
    seconds = 0.0
    peak_rps = 0.0
    vus = 0
    for planned in plan.tests:
        if planned.test.bridged():  # the script shapes its load; the plan bounds its length
            seconds += planned.planned_seconds or 0.0
            continue
        profile = profile_of(plan, planned)
        seconds += profile.total_duration
        if profile.model == "open":
            peak_rps = max(peak_rps, profile.executor.peak())
        else:
            vus = max(vus, round(profile.executor.peak()))
    return PlannedLoad(seconds=seconds * attempts, peak_rps=peak_rps, vus=vus, target=plan.base_url)


async def run_plan(
    config: AgentConfig, plan: TestSuitePlan, *, target_url: str | None, context: RunContext, folder: str
) -> AgentOutcome:
    """Run and judge ``plan`` with the host's files, allow-list, store and options, artifacts in
    ``config.out_dir / folder``. The plan's own ``allowHosts`` is dropped: only the host allows hosts."""
    return await run_suite(
        SuiteRequest(
            plan=plan.model_copy(update={"allow_hosts": []}).to_wire(),
            thresholds=list(config.thresholds),
            metadata=config.metadata,
            editions=config.editions,
            annotations=config.annotations,
            target_url=target_url,
            allow_hosts=list(config.allow_hosts),
        ),
        context,
        store=config.store,
        out_dir=OutputFolder.claim(config.out_dir / folder),
        options=config.options,
        max_retries=config.max_retries,
    )
