"""The ``LoadAgent`` plugin: six coarse functions a model plans with. Results are referred to by id (a
designed plan by ``planId``, a run by ``runId``); a run's figures come back as a compact digest, never its
samples or artifacts. Every argument is checked; the guard (``agent.guard``) decides beforehand whether a
run may go ahead at all.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from semantic_kernel import Kernel
from semantic_kernel.connectors.ai.chat_completion_client_base import ChatCompletionClientBase

from sk_loadagent.agent.designer import DesignedSuite, design_from_files
from sk_loadagent.agent.session import PlannedLoad, Session, SessionRun, planned_load, run_plan
from sk_loadagent.errors import InputError
from sk_loadagent.memory import history_rows
from sk_loadagent.models.context import RunContext
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.plan import TestType
from sk_loadagent.prompts import explain_suite, run_digest
from sk_loadagent.skills._coerce import argument
from sk_loadagent.skills._schema import takes, tool_function
from sk_loadagent.suite.gate import decide_gate
from sk_loadagent.suite.history import summaries

T = TypeVar("T")
PLUGIN_NAME = "LoadAgent"
SOURCE_AGENT = "sk-loadagent agent"


class LoadAgentPlugin:
    """Design, run, inspect, compare, look up and explain load tests, within the host's limits."""

    def __init__(self, session: Session, chat_service: ChatCompletionClientBase | None = None) -> None:
        self.session = session
        self.chat_service = chat_service

    # -- design ------------------------------------------------------------------------------------------

    @tool_function(
        name="design_suite",
        description=(
            "Design a load-test plan for the configured service from its OpenAPI document and metadata: "
            "endpoints, bodies, test types by edition, rates from memory. Returns a planId and the tests."
        ),
    )
    def design_suite(
        self,
        editionId: Annotated[Any, takes(str | None, "edition to design for (default: the host's)")] = None,
        testTypes: Annotated[
            Any, takes(list[TestType] | None, "test types instead of the edition tier's (load, spike, ...)")
        ] = None,
    ) -> dict[str, Any]:
        config = self.session.config
        if config.openapi is None or config.metadata is None:
            raise InputError.single(
                "design_suite", "", "an OpenAPI document and metadata on the host (--openapi, --metadata)"
            )
        suite = design_from_files(
            config.openapi,
            config.metadata,
            editions=config.editions,
            edition_id=argument("editionId", str | None, editionId) or config.edition,
            annotations=config.annotations,
            store=config.store,
            test_types=argument("testTypes", list[TestType] | None, testTypes),
        )
        plan_id = self.session.new_id("plan")
        self.session.plans[plan_id] = suite
        # Bodies and headers stay on the host: the model needs each test's shape, not its payload.
        shapes = [
            {k: v for k, v in t.test.to_wire().items() if k not in ("body", "headers")} for t in suite.tests
        ]
        return {
            "planId": plan_id,
            "moduleId": suite.plan.module_id,
            "editionId": suite.plan.edition_id,
            "tests": shapes,
            "leftOut": suite.left_out,
        }

    # -- run ---------------------------------------------------------------------------------------------

    def preflight(self, plan_id: Any, target_url: Any) -> PlannedLoad:
        """What running ``plan_id`` would send; InputError for an unknown plan, TargetNotAllowedError for a
        target the host does not allow. Nothing is sent."""
        suite = self._plan(plan_id)
        target = argument("targetUrl", str | None, target_url)
        execution = self.session.execution_plan(suite.plan, target)
        return planned_load(execution, attempts=1 + self.session.config.max_retries)

    @tool_function(
        name="run_suite",
        description=(
            "Run a designed plan against the configured target and judge it (status, score, regression). "
            "Returns a runId and a compact digest of the figures. Refused when over the session's budget."
        ),
    )
    async def run_suite(
        self,
        planId: Annotated[Any, takes(str, "the planId design_suite returned")],
        targetUrl: Annotated[
            Any,
            takes(str | None, "base URL to load (default: the host's target); loopback or allow-listed"),
        ] = None,
    ) -> dict[str, Any]:
        config = self.session.config
        suite = self._plan(planId)
        execution = self.session.execution_plan(suite.plan, argument("targetUrl", str | None, targetUrl))
        per_attempt = planned_load(execution, attempts=1).seconds
        run_id = self.session.new_id("run")
        outcome = await run_plan(
            config,
            suite.plan,
            target_url=execution.base_url,
            context=RunContext(trace_id=f"agent-{run_id}", source_agent=SOURCE_AGENT),
            folder=run_id,
        )
        gate = decide_gate(outcome.metrics, min_score=None, fail_on_degraded=True)
        record = SessionRun(
            run_id=run_id,
            plan_id=str(planId),
            metrics=outcome.metrics,
            artifacts=outcome.artifacts,
            gate_passed=gate.passed,
            load_seconds=per_attempt * max(1, len(outcome.attempts)),
        )
        self.session.runs[run_id] = record
        self.session.load_used += record.load_seconds
        return {"runId": run_id, "gatePassed": gate.passed, **run_digest(outcome.metrics)}

    # -- look at runs ------------------------------------------------------------------------------------

    @tool_function(
        name="get_run",
        description="The digest of a run of this session: status, score, figures, violations and reasons.",
    )
    def get_run(self, runId: Annotated[Any, takes(str, "the runId run_suite returned")]) -> dict[str, Any]:
        run = self._run(runId)
        return {
            "runId": run.run_id,
            "planId": run.plan_id,
            "gatePassed": run.gate_passed,
            "loadSeconds": round(run.load_seconds, 1),
            "artifacts": run.artifacts,
            **run_digest(run.metrics),
        }

    @tool_function(
        name="compare_runs",
        description=(
            "Compare two runs of this session test by test: p95, rps, error rate and score, with the change "
            "from the first run to the second."
        ),
    )
    def compare_runs(
        self,
        baseRunId: Annotated[Any, takes(str, "the earlier run")],
        runId: Annotated[Any, takes(str, "the later run")],
    ) -> dict[str, Any]:
        base, current = self._run(baseRunId), self._run(runId)
        before = {_test_name(t): t for t in base.metrics.tests or [base.metrics]}
        rows = []
        for test in current.metrics.tests or [current.metrics]:
            name = _test_name(test)
            earlier = before.get(name)
            rows.append(_comparison(name, earlier, test))
        return {
            "baseRunId": base.run_id,
            "runId": current.run_id,
            "tests": rows,
            "note": "point figures of two runs; each run's baseline comparison (get_run) has the statistics",
        }

    @tool_function(
        name="history",
        description="Stored runs from memory, oldest first: status, score, p95, rps, baseline, change point.",
    )
    def history(
        self,
        moduleId: Annotated[Any, takes(str | None, "module to filter on")] = None,
        editionId: Annotated[Any, takes(str | None, "edition to filter on")] = None,
        testType: Annotated[Any, takes(TestType | None, "test type to filter on")] = None,
        limit: Annotated[Any, takes(int, "the newest runs of each series to return (1 to 50)")] = 5,
    ) -> list[dict[str, Any]]:
        store = self.session.config.store
        if store is None:
            raise InputError.single("history", "", "a memory store on the host (--memory)", "none")
        count = argument("limit", int, limit)
        if not 1 <= count <= 50:
            raise InputError.single("limit", "", "a whole number from 1 to 50", str(count))
        rows = history_rows(
            store,
            module_id=argument("moduleId", str | None, moduleId),
            edition_id=argument("editionId", str | None, editionId),
            test_type=argument("testType", TestType | None, testType),
            limit=count,
        )
        return summaries(rows)

    @tool_function(
        name="explain",
        description="Explain a run for a release engineer: what happened, the likely cause, what to check.",
    )
    async def explain(self, runId: Annotated[Any, takes(str, "the runId run_suite returned")]) -> str:
        run = self._run(runId)
        if self.chat_service is not None:
            explainer = Kernel()
            explainer.add_service(self.chat_service)
            explained = await explain_suite(explainer, run.metrics)
            if explained.text:
                return explained.text
        return _reasons_text(run.metrics)

    # -- lookups -----------------------------------------------------------------------------------------

    def _plan(self, plan_id: Any) -> DesignedSuite:
        return _lookup(
            self.session.plans, "planId", plan_id, "a planId from design_suite", "call design_suite"
        )

    def _run(self, run_id: Any) -> SessionRun:
        return _lookup(self.session.runs, "runId", run_id, "a runId of this session", "call run_suite")


def _lookup(table: dict[str, T], name: str, value: Any, expected: str, first: str) -> T:
    """``table[value]``, or an InputError naming the ids there are (or what to call first)."""
    key = argument(name, str, value)
    if key not in table:
        known = ", ".join(table) or f"none yet: {first}"
        raise InputError.single(name, "", f"{expected} ({known})", repr(key))
    return table[key]


def _test_name(test: PerfMetrics) -> str:
    return test.test_name or f"{test.test_type} {test.endpoint}"


def _change(before: float | None, after: float | None) -> str | None:
    if before is None or after is None or before == 0:
        return None
    return f"{(after / before - 1) * 100:+.0f}%"


def _comparison(name: str, before: PerfMetrics | None, after: PerfMetrics) -> dict[str, Any]:
    p95 = after.latency.p95 if after.latency is not None else None
    if before is None:
        return {"test": name, "note": "not in the earlier run", "p95": p95, "status": after.status}
    p95_before = before.latency.p95 if before.latency is not None else None
    return {
        "test": name,
        "status": [before.status, after.status],
        "score": [before.performance_score, after.performance_score],
        "p95Ms": [p95_before, p95],
        "p95Change": _change(p95_before, p95),
        "rps": [before.rps, after.rps],
        "rpsChange": _change(before.rps, after.rps),
        "errorRate": [before.error_rate, after.error_rate],
    }


def _reasons_text(metrics: PerfMetrics) -> str:
    """Without a chat service: the verdict's own reasons, test by test."""
    lines = [f"{metrics.status or 'unjudged'}, score {metrics.performance_score}."]
    for test in metrics.tests or [metrics]:
        reasons = "; ".join(test.reasons or []) or "no threshold violated, no regression found"
        lines.append(f"{_test_name(test)}: {test.status} ({reasons})")
    return "\n".join(lines)
