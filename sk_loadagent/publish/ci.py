"""What CI systems read after a run (spec cycle 9): a JUnit XML file (``--junit``), the GitHub step summary
(markdown appended to ``$GITHUB_STEP_SUMMARY``) with ``::warning``/``::error`` annotations, and Azure
DevOps logging commands (``##vso[...]`` on stdout when ``TF_BUILD`` is set).

Each test is one case: it fails when the gate fails it (``analysis.verdict.gate_problems``), with the
verdict's reasons as the failure text; a test kept out of the gate is skipped; a warning passes and says
why. Nothing here decides a status: the statuses and reasons come from ``classify``, the outcome from the
gate's rules.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sk_loadagent.atomic import write_atomic
from sk_loadagent.models.metrics import STATUS_ORDER, PerfMetrics
from sk_loadagent.publish.text import ms, tile_summary

_ICONS = {"pass": "✅", "warning": "⚠️", "degraded": "🟠", "fail": "❌"}


@dataclass(frozen=True)
class GatedTest:
    """A test and what the gate made of it: ``problems`` is empty when it passed (or was not gated)."""

    test: PerfMetrics
    problems: list[str]

    @property
    def name(self) -> str:
        t = self.test
        return t.test_name or " ".join(p for p in (t.test_type, t.endpoint) if p) or "test"

    @property
    def gated(self) -> bool:
        return not self.test.excluded_from_gate

    @property
    def failed(self) -> bool:
        return bool(self.problems)

    @property
    def warns(self) -> bool:
        """Passed the gate, but with something to say: a warning or degraded status, or a regression."""
        return self.gated and not self.failed and (self.test.status != "pass" or bool(self.test.regression))


@dataclass(frozen=True)
class ScopeResult:
    """One module and edition's run as the gate saw it (``--edition-override`` makes one per edition)."""

    suite: PerfMetrics
    tests: list[GatedTest]
    passed: bool
    gate_reasons: list[str]

    @property
    def scope(self) -> str:
        return " / ".join(p for p in (self.suite.module_id, self.suite.edition_id) if p) or "suite"


def _delta(test: PerfMetrics) -> str | None:
    comparison = test.baseline_comparison
    if comparison is None or comparison.exploratory or comparison.delta_latency_p95 is None:
        return None
    interval = comparison.delta_latency_p95_interval
    spread = f" [{interval.low}, {interval.high}]" if interval is not None else ""
    return f"{comparison.delta_latency_p95}{spread}"


# -- JUnit ------------------------------------------------------------------------------------------------


def _properties(parent: ET.Element, values: Mapping[str, object]) -> None:
    props = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if value is not None:
            ET.SubElement(props, "property", name=name, value=str(value))


def _counts(tests: Sequence[GatedTest]) -> dict[str, str]:
    seconds = sum(t.test.test_duration or 0.0 for t in tests)
    return {
        "tests": str(len(tests)),
        "failures": str(sum(t.failed for t in tests)),
        "errors": "0",
        "skipped": str(sum(not t.gated for t in tests)),
        "time": f"{seconds:.3f}",
    }


def junit_xml(results: Sequence[ScopeResult]) -> str:
    """One testsuite per module and edition, one testcase per test."""
    root = ET.Element(
        "testsuites", {"name": "sk-loadagent", **_counts([t for r in results for t in r.tests])}
    )
    for result in results:
        _testsuite(root, result.suite, result.tests)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testsuite(root: ET.Element, suite: PerfMetrics, tests: Sequence[GatedTest]) -> None:
    scope = "/".join(p for p in (suite.module_id, suite.edition_id) if p) or "sk-loadagent"
    suite_el = ET.SubElement(root, "testsuite", {"name": scope, **_counts(tests)})
    _properties(
        suite_el,
        {"traceId": suite.trace_id, "performanceScore": suite.performance_score, "status": suite.status},
    )
    classname = scope.replace("/", ".")
    for gated in tests:
        test = gated.test
        case = ET.SubElement(
            suite_el,
            "testcase",
            classname=classname,
            name=gated.name,
            time=f"{test.test_duration or 0.0:.3f}",
        )
        comparison = test.baseline_comparison
        _properties(
            case,
            {
                "status": test.status,
                "performanceScore": test.performance_score,
                "latencyP95": test.latency.p95 if test.latency else None,
                "deltaLatencyP95": _delta(test),
                "regression": str(bool(test.regression)).lower(),
                "baselineTraceId": comparison.baseline_trace_id if comparison else None,
            },
        )
        reasons = "\n".join(test.reasons or [])
        if not gated.gated:
            ET.SubElement(case, "skipped", message=f"excluded from the gate (status {test.status or 'none'})")
        elif gated.failed:
            failure = ET.SubElement(
                case, "failure", message="; ".join(gated.problems), type=test.status or "none"
            )
            failure.text = reasons
        ET.SubElement(case, "system-out").text = "\n".join(p for p in (tile_summary(test), reasons) if p)


def write_junit(path: Path, results: Sequence[ScopeResult]) -> Path:
    return write_atomic(path, junit_xml(results))


# -- GitHub -----------------------------------------------------------------------------------------------


def _row(gated: GatedTest) -> str:
    t = gated.test
    status = f"{_ICONS.get(t.status or '', '')} {t.status or '–'}".strip()
    score = f"{t.performance_score:.2f}" if t.performance_score is not None else "–"
    delta = _delta(t) or ("no baseline" if t.baseline_comparison is not None else "not compared")
    if t.regression:
        delta += " ⚠ regression"
    rps = f"{t.rps:.1f}" if t.rps is not None else "–"
    errors = f"{t.error_rate:.2%}" if t.error_rate is not None else "–"
    gate = "not gated" if not gated.gated else ("**fails**" if gated.failed else "passes")
    p95 = ms(t.latency.p95 if t.latency else None)
    return f"| {gated.name} | {status} | {score} | {p95} | {delta} | {rps} | {errors} | {gate} |"


def step_summary(result: ScopeResult) -> str:
    """A markdown section for the job's summary page."""
    suite, tests, passed, scope = result.suite, result.tests, result.passed, result.scope
    verdict = "passed" if passed else "FAILED"
    score = f"{suite.performance_score:.2f}" if suite.performance_score is not None else "–"
    lines = [
        f"### {'✅' if passed else '❌'} sk-loadagent: {scope}: gate {verdict}",
        "",
        f"Score **{score}** ({suite.status or 'no status'}), trace `{suite.trace_id or '-'}`. "
        + tile_summary(suite),
        "",
        "| test | status | score | p95 | p95 vs baseline [95 % interval] | rps | errors | gate |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | --- |",
        *(_row(t) for t in tests),
        "",
        "Gate: " + "; ".join(result.gate_reasons),
        "",
    ]
    explained = [t for t in tests if t.failed or t.warns]
    if explained:
        lines += ["<details><summary>Why</summary>", ""]
        for gated in explained:
            lines.append(f"**{gated.name}** ({gated.test.status})")
            lines += [f"- {reason}" for reason in gated.test.reasons or []]
            lines.append("")
        lines += ["</details>", ""]
    return "\n".join(lines) + "\n"


def append_step_summary(path: Path, text: str) -> None:
    """GitHub gives each step a file to append to; earlier steps' sections stay."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _first_reasons(test: PerfMetrics, n: int = 3) -> str:
    """The reasons after the score band's (which every test has), at most ``n``."""
    reasons = [r for r in test.reasons or [] if not r.startswith("score ")]
    return "; ".join(reasons[:n])


def _issues(results: Sequence[ScopeResult]) -> list[tuple[str, str, str]]:
    """(kind, test name, message) per failing (error) or warning test; with several editions the name
    says which."""
    issues = []
    for result in results:
        for gated in result.tests:
            if not (gated.failed or gated.warns):
                continue
            name = f"{result.suite.edition_id}/{gated.name}" if len(results) > 1 else gated.name
            message = f"{name}: {gated.test.status}; {_first_reasons(gated.test)}"
            issues.append(("error" if gated.failed else "warning", name, message))
    return issues


def github_annotations(results: Sequence[ScopeResult]) -> list[str]:
    """``::error``/``::warning`` workflow commands: one per failing or warning test."""
    return [
        f"::{kind} title=sk-loadagent {name}::{_github_escape(message)}"
        for kind, name, message in _issues(results)
    ]


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


# -- Azure DevOps -----------------------------------------------------------------------------------------


def _vso_escape(text: str) -> str:
    """Azure's escaping of a logging command's message."""
    return text.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def azure_commands(results: Sequence[ScopeResult]) -> list[str]:
    """``##vso`` logging commands: an issue per failing (error) or warning test, the score and status as
    pipeline variables (the lowest score and the worst status over several editions), and a task result of
    SucceededWithIssues when every gate passed but with warnings."""
    lines = [
        f"##vso[task.logissue type={kind}]{_vso_escape(message)}" for kind, _, message in _issues(results)
    ]
    scores = [r.suite.performance_score for r in results if r.suite.performance_score is not None]
    if scores:
        lines.append(f"##vso[task.setvariable variable=performanceScore]{min(scores):.2f}")
    statuses = [r.suite.status for r in results if r.suite.status is not None]
    worst = max(statuses, key=lambda s: STATUS_ORDER.get(s, 1), default="none")
    lines.append(f"##vso[task.setvariable variable=performanceStatus]{worst}")
    if all(r.passed for r in results) and any(t.warns for r in results for t in r.tests):
        lines.append("##vso[task.complete result=SucceededWithIssues;]gate passed with warnings")
    return lines


def ci_environment(environ: Mapping[str, str] | None = None) -> tuple[Path | None, bool, bool]:
    """Where this runs: the step summary file (GitHub), GitHub Actions, Azure DevOps (``TF_BUILD``)."""
    env = os.environ if environ is None else environ
    summary = env.get("GITHUB_STEP_SUMMARY") or None
    return (
        Path(summary) if summary else None,
        env.get("GITHUB_ACTIONS", "").lower() == "true",
        bool(env.get("TF_BUILD")),
    )
