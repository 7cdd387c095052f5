"""TestPlanInterpreterSkill (spec cycle 6): plan files -> execution plan."""

from __future__ import annotations

from typing import Annotated, Any

from sk_loadagent.models.caps import Caps
from sk_loadagent.models.plan import TestSuitePlan
from sk_loadagent.skills._coerce import argument, plan_caps, plan_document, retry_adjustments
from sk_loadagent.skills._schema import takes, tool_function
from sk_loadagent.suite.execution_plan import interpret, tls_from_command_line
from sk_loadagent.suite.inputs import load_inputs

Adjustments = dict[str, dict[str, str | float]]


class TestPlanInterpreter:
    """Parses test-suite.plan.yaml, perf-thresholds.yaml, service metadata, edition config and Studio
    annotations into an execution plan."""

    __test__ = False

    @tool_function(
        name="interpret_plan",
        description=(
            "Parse a test-suite plan and its threshold, metadata, edition and annotation files into an "
            "execution plan: one resolved load profile per test, with the target URL and scope."
        ),
    )
    def interpret_plan(
        self,
        plan: Annotated[Any, takes(str | TestSuitePlan, "path to test-suite.plan.yaml, or the plan itself")],
        thresholdFiles: Annotated[Any, takes(list[str] | None, "paths of perf-thresholds.yaml files")] = None,
        metadataFile: Annotated[Any, takes(str | None, "path of service.metadata.yaml")] = None,
        editionsFile: Annotated[Any, takes(str | None, "path of edition.config.json")] = None,
        annotationsFile: Annotated[Any, takes(str | None, "path of studio.annotation.yaml")] = None,
        weightingFile: Annotated[Any, takes(str | None, "path of customWeighting.yaml")] = None,
        baselineFile: Annotated[Any, takes(str | None, "path of perf-baseline.memory.json")] = None,
        tracePlanFile: Annotated[
            Any,
            takes(str | None, "path of a trace.plan.yaml: one flow test per trace path (flow) of it"),
        ] = None,
        observabilityFile: Annotated[
            Any,
            takes(str | None, "path of an observability.config.yaml (trace context, spans, scrapes)"),
        ] = None,
        targetUrl: Annotated[Any, takes(str | None, "base URL that overrides the plan's baseUrl")] = None,
        traceId: Annotated[Any, takes(str | None, "trace scope of the run")] = None,
        editionId: Annotated[Any, takes(str | None, "edition that overrides the plan's editionId")] = None,
        moduleId: Annotated[Any, takes(str | None, "module that overrides the plan's moduleId")] = None,
        sourceAgent: Annotated[Any, takes(str | None, "agent that triggered the run")] = None,
        allowHosts: Annotated[
            Any,
            takes(
                list[str] | None,
                "non-loopback hosts to accept in the plan (the load runner still sends load only to the "
                "hosts its own configuration allows)",
            ),
        ] = None,
        retryAdjustments: Annotated[
            Any, takes(Adjustments | None, "per test index, the retry's adjustments (from recommend_retry)")
        ] = None,
        caps: Annotated[Any, takes(Caps | None, "caps on the run; none: this machine's")] = None,
        caFile: Annotated[
            Any, takes(str | None, "PEM file of CA certificates to trust for an https:// target")
        ] = None,
        insecureSkipVerify: Annotated[
            Any, takes(bool | None, "skip TLS certificate verification (recorded as a warning)")
        ] = None,
        warnOnRegression: Annotated[
            Any, takes(bool | None, "a regression warns and does not fail the gate (CI flag)")
        ] = None,
        retryOnFlakiness: Annotated[
            Any, takes(bool | None, "retryOnFail for every test that does not set its own (CI flag)")
        ] = None,
    ) -> dict[str, Any]:
        limits = plan_caps(caps)
        paths = {
            name: argument(name, str | None, value)
            for name, value in (
                ("metadataFile", metadataFile),
                ("editionsFile", editionsFile),
                ("annotationsFile", annotationsFile),
                ("weightingFile", weightingFile),
                ("baselineFile", baselineFile),
                ("tracePlanFile", tracePlanFile),
                ("observabilityFile", observabilityFile),
                ("caFile", caFile),
            )
        }
        inputs = load_inputs(
            plan_document(plan),
            thresholds=argument("thresholdFiles", list[str] | None, thresholdFiles) or (),
            metadata=paths["metadataFile"],
            editions=paths["editionsFile"],
            annotations=paths["annotationsFile"],
            weighting=paths["weightingFile"],
            baseline=paths["baselineFile"],
            caps=limits,
            trace_plan=paths["tracePlanFile"],
            observability=paths["observabilityFile"],
        )
        result = interpret(
            inputs,
            target_url=argument("targetUrl", str | None, targetUrl),
            trace_id=argument("traceId", str | None, traceId),
            edition_id=argument("editionId", str | None, editionId),
            module_id=argument("moduleId", str | None, moduleId),
            source_agent=argument("sourceAgent", str | None, sourceAgent),
            allow_hosts=argument("allowHosts", list[str] | None, allowHosts),
            adjustments=retry_adjustments(retryAdjustments),
            caps=limits,
            tls=tls_from_command_line(
                paths["caFile"], argument("insecureSkipVerify", bool | None, insecureSkipVerify)
            ),
            warn_on_regression=bool(argument("warnOnRegression", bool | None, warnOnRegression)),
            retry_on_flakiness=bool(argument("retryOnFlakiness", bool | None, retryOnFlakiness)),
        )
        return result.to_wire()
