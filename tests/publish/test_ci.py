"""CI outputs (spec cycle 9): JUnit XML, the GitHub step summary and annotations, Azure DevOps logging
commands. Each test's outcome is the gate's; the texts are the verdict's reasons."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from report_builders import load_pass, regressed_suite, spike_regressed

from sk_loadagent.publish.ci import (
    GatedTest,
    ScopeResult,
    append_step_summary,
    azure_commands,
    ci_environment,
    github_annotations,
    junit_xml,
    step_summary,
    write_junit,
)
from sk_loadagent.suite.assemble import suite_metrics
from sk_loadagent.suite.gate import decide_gate, gated_tests


def gated(fail_on_degraded: bool = True) -> list[GatedTest]:
    return gated_tests(regressed_suite(), min_score=None, fail_on_degraded=fail_on_degraded)


def result(fail_on_degraded: bool = True) -> ScopeResult:
    suite = regressed_suite()
    gate = decide_gate(suite, min_score=None, fail_on_degraded=fail_on_degraded)
    return ScopeResult(suite, gated(fail_on_degraded), gate.passed, gate.reasons)


def test_junit_has_one_testcase_per_test_with_the_reasons_as_failure(tmp_path: Path) -> None:
    path = write_junit(tmp_path / "reports" / "perf.xml", [result()])

    root = ET.parse(path).getroot()
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("skipped")) == (
        "testsuites",
        "2",
        "1",
        "0",
    )
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "CheckoutService/vetclinic"
    load, spike = suite.findall("testcase")
    assert (load.get("name"), load.get("classname"), load.get("time")) == (
        "checkout-load",
        "CheckoutService.vetclinic",
        "60.000",
    )
    assert load.find("failure") is None
    failure = spike.find("failure")
    assert failure is not None
    assert (failure.get("message"), failure.get("type")) == ("status degraded (failOnDegraded)", "degraded")
    assert failure.text is not None
    assert failure.text.splitlines()[-1] == (
        "p95 regressed +35% [+22%, +49%] vs the baseline (confidence 1.00): at least degraded"
    )
    props = {p.get("name"): p.get("value") for p in spike.iter("property")}
    assert props == {
        "status": "degraded",
        "performanceScore": "0.62",
        "latencyP95": "810.0",
        "deltaLatencyP95": "+35% [+22%, +49%]",
        "regression": "true",
        "baselineTraceId": "proj-950-checkout",
    }


def test_junit_skips_a_test_kept_out_of_the_gate() -> None:
    excluded = spike_regressed().model_copy(update={"excluded_from_gate": True})
    suite = suite_metrics([load_pass(), excluded])
    tests = gated_tests(suite, min_score=None, fail_on_degraded=True)

    root = ET.fromstring(junit_xml([ScopeResult(suite, tests, True, [])]))
    skipped = root.find("testsuite/testcase[@name='checkout-spike']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "excluded from the gate (status degraded)"
    assert (root.get("failures"), root.get("skipped")) == ("0", "1")


def test_step_summary_is_a_markdown_table_with_the_gate_and_the_reasons(tmp_path: Path) -> None:
    text = step_summary(result())

    lines = text.splitlines()
    assert lines[0] == "### ❌ sk-loadagent: CheckoutService / vetclinic: gate FAILED"
    assert lines[5] == "| --- | --- | ---: | ---: | --- | ---: | ---: | --- |"
    assert (
        lines[6] == "| checkout-load | ✅ pass | 0.97 | 34.5 ms | +5% [-6%, +15%] | 100.0 | 0.00% | passes |"
    )
    assert lines[7] == (
        "| checkout-spike | 🟠 degraded | 0.62 | 810 ms | +35% [+22%, +49%] ⚠ regression | 280.0 | 2.10% "
        "| **fails** |"
    )
    assert "- p95 regressed +35% [+22%, +49%] vs the baseline (confidence 1.00): at least degraded" in lines
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    append_step_summary(summary, text)
    assert summary.read_text() == "earlier step\n" + text


def test_annotations_and_azure_commands_name_failing_and_warning_tests() -> None:
    warned = result(fail_on_degraded=False)  # the degraded spike passes the gate, with a warning

    assert github_annotations([warned]) == [
        # % is spelled %25 in a workflow command; GitHub shows it as %
        "::warning title=sk-loadagent checkout-spike::checkout-spike: degraded; "
        "1 threshold violation (minor): p95 810 ms > 800 ms limit (+1 %25); "
        "p95 regressed +35%25 [+22%25, +49%25] vs the baseline (confidence 1.00): at least degraded"
    ]
    commands = azure_commands([warned])
    assert commands[0].startswith("##vso[task.logissue type=warning]checkout-spike: degraded; 1 threshold")
    assert commands[1:] == [
        "##vso[task.setvariable variable=performanceScore]0.62",
        "##vso[task.setvariable variable=performanceStatus]degraded",
        "##vso[task.complete result=SucceededWithIssues;]gate passed with warnings",
    ]
    failing = azure_commands([result()])
    assert failing[0].startswith("##vso[task.logissue type=error]checkout-spike: degraded;")
    assert not any("task.complete" in line for line in failing)


def test_messages_are_escaped_for_the_logging_commands() -> None:
    test = spike_regressed().model_copy(update={"reasons": ["score 0.62", "50%\nof requests"]})
    results = [ScopeResult(test, [GatedTest(test, ["status degraded"])], False, [])]

    assert azure_commands(results)[0].endswith("degraded; 50%AZP25%0Aof requests")
    assert github_annotations(results)[0].endswith("degraded; 50%25%0Aof requests")


def test_the_ci_environment_is_read_from_its_variables() -> None:
    assert ci_environment({}) == (None, False, False)
    assert ci_environment({"GITHUB_STEP_SUMMARY": "/s.md", "GITHUB_ACTIONS": "true", "TF_BUILD": "True"}) == (
        Path("/s.md"),
        True,
        True,
    )


def test_several_editions_make_one_junit_file_and_name_the_edition_in_each_issue() -> None:
    base = result()
    premium_suite = suite_metrics(
        [t.model_copy(update={"edition_id": "vetclinic-premium"}) for t in regressed_suite().tests or []]
    )
    premium = ScopeResult(
        premium_suite, gated_tests(premium_suite, min_score=None, fail_on_degraded=True), False, []
    )

    root = ET.fromstring(junit_xml([base, premium]))
    assert [s.get("name") for s in root.findall("testsuite")] == [
        "CheckoutService/vetclinic",
        "CheckoutService/vetclinic-premium",
    ]
    assert (root.get("tests"), root.get("failures")) == ("4", "2")
    issues = azure_commands([base, premium])
    assert [line.split("]")[1].split(":")[0] for line in issues[:2]] == [
        "vetclinic/checkout-spike",
        "vetclinic-premium/checkout-spike",
    ]
    assert "##vso[task.setvariable variable=performanceStatus]degraded" in issues
