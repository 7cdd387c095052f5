"""TestPlanInterpreterSkill (spec cycle 6): plan files -> execution plan."""

from __future__ import annotations

from typing import Annotated, Any

from semantic_kernel.functions import kernel_function

from sk_loadagent.skills._coerce import plan_caps, plan_document, retry_adjustments
from sk_loadagent.suite.execution_plan import interpret, tls_from_command_line
from sk_loadagent.suite.inputs import load_inputs


class TestPlanInterpreter:
    """Parses test-suite.plan.yaml, perf-thresholds.yaml, service metadata, edition config and Studio
    annotations into an execution plan."""

    __test__ = False

    @kernel_function(
        name="interpret_plan",
        description=(
            "Parse a test-suite plan and its threshold, metadata, edition and annotation files into an "
            "execution plan: one resolved load profile per test, with the target URL and scope."
        ),
    )
    def interpret_plan(
        self,
        plan: Annotated[Any, "path to test-suite.plan.yaml, or the plan as a dict"],
        thresholdFiles: Annotated[list[str] | None, "paths of perf-thresholds.yaml files"] = None,
        metadataFile: Annotated[str | None, "path of service.metadata.yaml"] = None,
        editionsFile: Annotated[str | None, "path of edition.config.json"] = None,
        annotationsFile: Annotated[str | None, "path of studio.annotation.yaml"] = None,
        weightingFile: Annotated[str | None, "path of customWeighting.yaml"] = None,
        baselineFile: Annotated[str | None, "path of perf-baseline.memory.json"] = None,
        targetUrl: Annotated[str | None, "base URL that overrides the plan's baseUrl"] = None,
        traceId: Annotated[str | None, "trace scope of the run"] = None,
        editionId: Annotated[str | None, "edition that overrides the plan's editionId"] = None,
        moduleId: Annotated[str | None, "module that overrides the plan's moduleId"] = None,
        sourceAgent: Annotated[str | None, "agent that triggered the run"] = None,
        allowHosts: Annotated[list[str] | None, "non-loopback hosts the user allows"] = None,
        retryAdjustments: Annotated[dict[str, Any] | None, "per test index, the retry's adjustments"] = None,
        caps: Annotated[dict[str, Any] | None, "caps on the run; None: this machine's"] = None,
        caFile: Annotated[str | None, "PEM file of CA certificates to trust for an https:// target"] = None,
        insecureSkipVerify: Annotated[
            bool | None, "skip TLS certificate verification (recorded as a warning)"
        ] = None,
        warnOnRegression: Annotated[bool, "a regression warns and does not fail the gate (CI flag)"] = False,
        retryOnFlakiness: Annotated[
            bool, "retryOnFail for every test that does not set it (CI flag)"
        ] = False,
    ) -> dict[str, Any]:
        limits = plan_caps(caps)
        inputs = load_inputs(
            plan_document(plan),
            thresholds=thresholdFiles or (),
            metadata=metadataFile,
            editions=editionsFile,
            annotations=annotationsFile,
            weighting=weightingFile,
            baseline=baselineFile,
            caps=limits,
        )
        adjustments = retry_adjustments(retryAdjustments)
        result = interpret(
            inputs,
            target_url=targetUrl,
            trace_id=traceId,
            edition_id=editionId,
            module_id=moduleId,
            source_agent=sourceAgent,
            allow_hosts=allowHosts,
            adjustments=adjustments,
            caps=limits,
            tls=tls_from_command_line(caFile, insecureSkipVerify),
            warn_on_regression=bool(warnOnRegression),
            retry_on_flakiness=bool(retryOnFlakiness),
        )
        return result.to_wire()
