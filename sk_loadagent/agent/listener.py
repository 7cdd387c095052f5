"""Reacting to other agents' events (spec cycle 12): consume TestGenerated, BuildCompleted and ChaosInjected,
run the suite each calls for, publish what was found.

For each event:

1. it must be JSON and an ``EventEnvelope``; otherwise it is a poison event and goes to the dead letters
   with its error (so does an event whose plan cannot be read, whose run would not fit the budget, whose
   fault ends too far ahead, or whose run fails);
2. an eventId handled before (a redelivery, or the same event sent twice) is acknowledged without a run:
   the ledger keeps the ids across restarts;
3. ``planRef`` names a plan file inside the host's plans folder; the event's traceId, edition and source
   are applied, a QA ``flakyFeature`` adds a latency test, and the plan's own ``allowHosts`` is dropped (the
   allow-list is the command line's);
4. a ChaosInjected run waits until the fault has ended, then measures how long p95 took to come back under
   its limit (``recoveryTimeSeconds``);
5. the run is the whole skill chain (``planners.agent.run_suite``), artifacts in ``<out>/<eventId>/``;
6. it publishes PerformanceTestCompleted (with the preview and the alert), PerformanceRegressionDetected
   when an alert was written, SoakTimeoutBreached to the Resiliency agent when a soak test degraded, and
   DeveloperNotification when the score is below 0.75.

At most ``concurrency`` runs go on at once. On ``stop`` no further event is taken; runs in progress may
finish for ``drain_seconds``, then are cancelled (a cancelled run leaves no artifact and stores nothing) and
their events given back to the broker.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from sk_loadagent.agent.buses import DEAD_LETTER, Bus, Delivery
from sk_loadagent.agent.guard import budget_refusal
from sk_loadagent.agent.ledger import EventLedger
from sk_loadagent.agent.session import AgentConfig, Session, planned_load, run_plan
from sk_loadagent.analysis.recovery import recovery_time
from sk_loadagent.errors import InputError, LoadAgentError, root_cause
from sk_loadagent.models.context import RunContext
from sk_loadagent.models.events import ChaosFault, EventEnvelope, OutboundEvent
from sk_loadagent.models.loading import load_document, validate_document
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.planners.agent import AgentOutcome
from sk_loadagent.publish.paths import safe_name
from sk_loadagent.suite.editions import shaped_like_plan
from sk_loadagent.suite.gate import decide_gate

DEVELOPER_SCORE = 0.75  # cycle 12: a lower score notifies the Developer agent


@dataclass
class ListenerConfig:
    session: AgentConfig
    plans_dir: Path
    ledger: EventLedger
    concurrency: int = 1
    drain_seconds: float = 30.0
    max_wait_seconds: float = 300.0


class PoisonEvent(Exception):
    """An event that cannot be handled; it goes to the dead letters with this message."""


class Listener:
    def __init__(self, config: ListenerConfig, bus: Bus, report: Callable[[str], None] = print) -> None:
        self.config = config
        self.bus = bus
        self.report = report
        self._slots = asyncio.Semaphore(config.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()

    # -- the loop ----------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then drain and close the bus."""
        await self.bus.start(self.on_delivery)
        self.report(f"listening on {self.bus.name}")
        await stop.wait()
        await self.bus.stop()
        if self._tasks:
            self.report(
                f"stopping: {len(self._tasks)} run(s) in progress, up to {self.config.drain_seconds:g} s"
            )
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.config.drain_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.bus.close()

    async def on_delivery(self, delivery: Delivery) -> None:
        """Wait for a free run slot, then handle the delivery in a task of its own."""
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, delivery: Delivery) -> None:
        try:
            try:
                await self.handle(delivery.body)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The agent's own failure: a dead letter says so, rather than a redelivery loop.
                await self._dead_letter(delivery.body, None, f"the agent failed: {type(exc).__name__}: {exc}")
            await delivery.ack()
        except asyncio.CancelledError:
            self.report("a run was abandoned at shutdown; its event is given back to the broker")
            await asyncio.shield(delivery.give_back())
            raise
        finally:
            self._slots.release()

    # -- one event ---------------------------------------------------------------------------------------

    async def handle(self, body: bytes) -> None:
        """Handle one message to the end: a run and its events, a duplicate skipped, or a dead letter."""
        event: EventEnvelope | None = None
        try:
            event = parse_event(body)
            if self.config.ledger.handled(event.event_id) or event.event_id in self._in_flight:
                self.report(f"event {event.event_id}: handled before (a redelivery); no run")
                return
            self._in_flight.add(event.event_id)
            try:
                await self._run(event)
            finally:
                self._in_flight.discard(event.event_id)
        except PoisonEvent as exc:
            await self._dead_letter(body, event, str(exc))

    async def _run(self, event: EventEnvelope) -> None:
        try:
            plan = self.plan_for(event)
            self.check_budget(plan)
            if event.fault is not None:
                await self._wait_for_fault_end(event.event_id, event.fault)
            outcome = await self._run_suite(event, plan)
        except LoadAgentError as exc:
            raise PoisonEvent(str(exc)) from None
        except Exception as exc:
            # The skill chain raises our errors wrapped in Semantic Kernel's.
            cause = root_cause(exc)
            if isinstance(cause, LoadAgentError):
                raise PoisonEvent(str(cause)) from None
            raise
        published = outbound_events(event, outcome.metrics, outcome.artifacts)
        gate = "passed" if published[0].gate_passed else "failed"
        self.config.ledger.record(
            event.event_id,
            {"outcome": "run", "status": outcome.metrics.status, "published": [e.type for e in published]},
        )
        for outbound in published:
            await self.bus.publish(outbound.type, json.dumps(outbound.to_wire()).encode())
        score = outcome.metrics.performance_score
        self.report(
            f"event {event.event_id} {event.type}: {outcome.metrics.status} "
            f"{'-' if score is None else f'{score:.2f}'}, gate {gate}; published "
            + ", ".join(e.type for e in published)
        )

    def plan_for(self, event: EventEnvelope) -> TestSuitePlan:
        """The plan ``planRef`` names, scoped to the event; InputError for one outside the plans folder."""
        base = self.config.plans_dir.resolve()
        path = (base / event.plan_ref).resolve()
        if not path.is_relative_to(base):
            raise InputError.single(
                "event", "planRef", f"a plan file inside the plans folder {base}", repr(event.plan_ref)
            )
        plan = load_document(path, TestSuitePlan)
        if plan.module_id != event.module_id:
            raise InputError.single(
                "event",
                "moduleId",
                f"the module of {event.plan_ref} ({plan.module_id})",
                repr(event.module_id),
            )
        tests = list(plan.tests)
        if event.qa is not None and event.qa.flaky_feature and all(t.type != "latency" for t in tests):
            latency = shaped_like_plan(plan, "latency", "qa-flaky-latency")
            tests += [latency] if latency is not None else []
        return plan.model_copy(
            update={
                "allow_hosts": [],
                "tests": tests,
                "trace_id": event.trace_id,
                "edition_id": event.edition_id or plan.edition_id,
                "source_agent": event.source_agent or plan.source_agent,
            }
        )

    def check_budget(self, plan: TestSuitePlan) -> None:
        """A run over the per-event budget is refused before anything is sent."""
        session = Session(self.config.session)
        attempts = 1 + self.config.session.max_retries
        planned = planned_load(session.execution_plan(plan, None), attempts=attempts)
        budget = self.config.session.budget
        refusal = budget_refusal(planned, budget, budget.load_seconds)
        if refusal is not None:
            raise PoisonEvent(refusal)

    async def _wait_for_fault_end(self, event_id: str, fault: ChaosFault) -> None:
        ends = fault.started_at + timedelta(seconds=fault.duration_seconds)
        wait = (ends - datetime.now(UTC)).total_seconds()
        if wait > self.config.max_wait_seconds:
            raise PoisonEvent(
                f"fault: ends in {wait:.0f} s, after the listener's longest wait of "
                f"{self.config.max_wait_seconds:g} s (--max-wait)"
            )
        if wait > 0:
            self.report(f"event {event_id}: waiting {wait:.1f} s for the {fault.kind} fault to end")
            await asyncio.sleep(wait)

    async def _run_suite(self, event: EventEnvelope, plan: TestSuitePlan) -> AgentOutcome:
        context = RunContext(
            trace_id=event.trace_id, edition_id=event.edition_id, source_agent=event.source_agent
        )
        config = self.config.session
        return await run_plan(
            config, plan, target_url=config.target_url, context=context, folder=safe_name(event.event_id)
        )

    async def _dead_letter(self, body: bytes, event: EventEnvelope | None, error: str) -> None:
        if event is not None:
            self.config.ledger.record(event.event_id, {"outcome": "dead-letter", "error": error})
        try:
            shown: Any = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            shown = body.decode("utf-8", errors="replace")
        letter = {"error": error, "event": shown, "at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        await self.bus.publish(DEAD_LETTER, json.dumps(letter).encode())
        self.report(f"event {event.event_id if event else '?'}: dead letter: {error}")


def parse_event(body: bytes) -> EventEnvelope:
    """The envelope in a message body; PoisonEvent naming what is wrong."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PoisonEvent(f"event: expected a JSON event envelope, got {exc}") from None
    try:
        return validate_document(data, EventEnvelope, "event")
    except InputError as exc:
        raise PoisonEvent(str(exc)) from None


def _recovery(test: PerfMetrics) -> float | None:
    limit = next((t.limit for t in test.thresholds or [] if t.metric == "latencyP95"), None)
    if limit is None or not test.timeline:
        return None
    return recovery_time([p.t for p in test.timeline], [p.p95 for p in test.timeline], limit)


def outbound_events(
    event: EventEnvelope, metrics: PerfMetrics, artifacts: dict[str, str]
) -> list[OutboundEvent]:
    """What a run tells the other agents (cycle 12), from its metrics and the artifacts it wrote."""
    tests = metrics.tests or [metrics]
    preview = json.loads(Path(artifacts["preview"]).read_text(encoding="utf-8"))
    alert_path = artifacts.get("regressionAlert")
    alert = yaml.safe_load(Path(alert_path).read_text(encoding="utf-8")) if alert_path else None
    scope = {
        "causation_id": event.event_id,
        "trace_id": event.trace_id,
        "module_id": event.module_id,
        "edition_id": metrics.edition_id,
        "status": metrics.status,
        "performance_score": metrics.performance_score,
        # Every event carries the Studio preview and the alert, so no agent has to read the artifacts.
        "preview": preview,
        "alert": alert,
    }

    def make(kind: str, **fields: Any) -> OutboundEvent:
        return OutboundEvent.model_validate({"event_id": str(uuid.uuid4()), "type": kind, **scope, **fields})

    published = [
        make(
            "PerformanceTestCompleted",
            gate_passed=decide_gate(metrics, min_score=None, fail_on_degraded=True).passed,
            recovery_time_seconds=_recovery(tests[0]) if event.fault is not None else None,
        )
    ]
    if alert is not None:
        published.append(make("PerformanceRegressionDetected", target_agent="DeveloperAgent"))
    degraded_soaks = [t for t in tests if t.test_type == "soak" and t.status in ("degraded", "fail")]
    for soak in degraded_soaks:
        reason = f"soak {soak.test_name or soak.endpoint}: {'; '.join(soak.reasons or []) or soak.status}"
        published.append(make("SoakTimeoutBreached", target_agent="ResiliencyAgent", reason=reason))
    if metrics.performance_score is not None and metrics.performance_score < DEVELOPER_SCORE:
        reason = f"performanceScore {metrics.performance_score:.2f} is below {DEVELOPER_SCORE}"
        published.append(make("DeveloperNotification", target_agent="DeveloperAgent", reason=reason))
    return published
