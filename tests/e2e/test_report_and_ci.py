"""`sk-loadagent run` as CI and a reviewer see it: a baseline, then a release three times as slow whose
limits still hold, so only the regression speaks. With --warn-on-regression the gate passes with a warning;
without it the gate fails. The report of the slow run is opened in headless Chromium (light and dark,
1280×800).

The screenshots are kept under ``$SK_LOADAGENT_SCREENSHOTS`` when it is set (default: the test's tmp dir).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_support import distinct_colours, launch_browser, open_page

from sk_loadagent.cli.main import MEMORY_ENV, main
from sk_loadagent.sample_service import SampleService

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PLAN = """\
traceId: proj-960-checkout
moduleId: CheckoutService
editionId: vetclinic
endpoint: /checkout/submit
method: POST
tests:
  - type: load
    name: checkout-load
    rps: 40
    rampUp: 200ms
    duration: 3s
  - type: spike
    name: checkout-spike
    baselineRps: 10
    baselineDuration: 1s
    rps: 40
    duration: 2s
    recoveryWindow: 1s
"""
# Far above either release: the slow release regresses against its baseline but breaks no limit.
THRESHOLDS = "module: CheckoutService\nthresholds:\n  latencyP95: 2000\n  errorRateMax: 0.05\n"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    out: Path


@dataclass
class Runs:
    baseline: Run
    warned: Run
    failed: Run
    folder: Path


def _run(folder: Path, url: str, trace_id: str, *extra: str) -> Run:
    """The CLI with its stdout and stderr captured (capsys is function-scoped, the runs module-scoped)."""
    out = folder / trace_id
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(
        [
            "run",
            "--plan", str(folder / "suite.plan.yaml"),
            "--thresholds", str(folder / "perf-thresholds.yaml"),
            "--target-url", url,
            "--memory", str(folder / "memory.sqlite"),
            "--out", str(out),
            "--trace-id", trace_id,
            "--workers", "1",
            "--max-retries", "0",
            "--quiet",
            *extra,
        ]
    )  # fmt: skip
    return Run(code, stdout.getvalue(), stderr.getvalue(), out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    folder = tmp_path_factory.mktemp("ci")
    (folder / "suite.plan.yaml").write_text(PLAN)
    (folder / "perf-thresholds.yaml").write_text(THRESHOLDS)
    with (
        pytest.MonkeyPatch.context() as env,
        SampleService(release="stable", latency_ms=10, jitter=0.1, slow_factor=3) as service,
    ):
        for name in (MEMORY_ENV, "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS", "TF_BUILD"):
            env.delenv(name, raising=False)
        baseline = _run(folder, service.url, "stable")
        service.configure(release="slow")
        env.setenv("GITHUB_STEP_SUMMARY", str(folder / "summary.md"))
        env.setenv("GITHUB_ACTIONS", "true")
        env.setenv("TF_BUILD", "True")
        warned = _run(
            folder, service.url, "slow-warned", "--warn-on-regression", "--junit", str(folder / "warned.xml")
        )
        failed = _run(folder, service.url, "slow", "--junit", str(folder / "failed.xml"))
    return Runs(baseline, warned, failed, folder)


def test_warn_on_regression_passes_the_gate_and_warns_in_every_ci_output(runs: Runs) -> None:
    assert (runs.baseline.code, runs.baseline.stderr) == (0, "")
    warned = runs.warned
    assert (warned.code, warned.stderr) == (0, "")
    metrics = json.loads((warned.out / "perf-metrics.json").read_text())
    statuses = [(t["testName"], t["status"], t["regression"]) for t in metrics["tests"]]
    assert ("checkout-load", "warning", True) in statuses
    load = next(t for t in metrics["tests"] if t["testName"] == "checkout-load")
    assert load["reasons"][-1] == "warnOnRegression: the regression is a warning and does not fail the gate"

    junit = ET.parse(runs.folder / "warned.xml").getroot()
    assert (junit.get("tests"), junit.get("failures")) == ("2", "0")
    lines = warned.stdout.splitlines()
    assert any(
        line.startswith("::warning title=sk-loadagent checkout-load::checkout-load: warning;")
        for line in lines
    )
    assert any(line.startswith("##vso[task.logissue type=warning]checkout-load: warning;") for line in lines)
    assert "##vso[task.complete result=SucceededWithIssues;]gate passed with warnings" in lines
    summary = (runs.folder / "summary.md").read_text()
    assert "### ✅ sk-loadagent: CheckoutService / vetclinic: gate passed" in summary
    assert "⚠ regression" in summary


def test_without_the_flag_the_regression_fails_the_gate_and_junit_says_why(runs: Runs) -> None:
    failed = runs.failed
    assert failed.code == 1
    junit = ET.parse(runs.folder / "failed.xml").getroot()
    failures = junit.findall("testsuite/testcase/failure")
    assert junit.get("failures") == str(len(failures))
    assert failures
    assert all(f.get("message") == "status degraded (failOnDegraded)" for f in failures)
    assert all("regressed" in (f.text or "") for f in failures)
    assert "##vso[task.logissue type=error]checkout-load: degraded;" in failed.stdout
    summary = (runs.folder / "summary.md").read_text()
    assert summary.count("### ") == 2  # appended after the warned run's section
    assert "gate FAILED" in summary


def test_every_run_writes_the_report_badge_and_studio_files(runs: Runs) -> None:
    out = runs.failed.out
    assert (out / "report.html").is_file()
    assert (
        'aria-label="CheckoutService / vetclinic: performance'
        in (out / "badges" / "vetclinic" / "checkoutservice.svg").read_text()
    )
    preview = json.loads((out / "studio.performance.preview.json").read_text())
    assert (preview["tileColor"], preview["badgeColor"], preview["actions"][0]) == (
        "yellow",
        "red",
        "view-report",
    )
    assert preview["badgeSummary"]["summary"].startswith("p95 latency up ")
    coverage = json.loads((out / "doc-coverage.metrics.json").read_text())
    assert coverage["modules"][0]["testTypes"] == ["load", "spike"]


# -- in the browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_browser()


def _screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SK_LOADAGENT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_report_shows_what_passed_what_regressed_and_why(
    runs: Runs, browser: Browser, tmp_path: Path, scheme: str
) -> None:
    report = runs.failed.out / "report.html"
    guarded = open_page(browser, report.as_uri(), scheme)
    page = guarded.page

    shot = page.screenshot(path=str(_screenshots(tmp_path) / f"report-{scheme}.png"))
    assert distinct_colours(browser, shot) > 50  # not blank: text, tiles and colours
    tiles = page.locator(".tile")
    metrics = json.loads((runs.failed.out / "perf-metrics.json").read_text())
    assert tiles.count() == len(metrics["tests"]) == 2
    assert tiles.first.locator(".pill").inner_text() == metrics["tests"][0]["status"]
    assert page.locator(".tile .regression").count() >= 1
    reasons = page.locator("#test-0 ol.reasons li").all_inner_texts()
    assert reasons == metrics["tests"][0]["reasons"]
    assert page.locator("#test-0 svg.chart").count() >= 5  # timeline ×3, distribution, history
    page.locator(".tile").first.click()
    assert page.url.endswith("#test-0")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(246, 247, 249)" if scheme == "light" else "rgb(17, 20, 24)")
    assert guarded.console_errors == []
    assert guarded.blocked == []
    page.close()


def test_the_report_prints_on_white_even_in_a_dark_theme(
    runs: Runs, browser: Browser, tmp_path: Path
) -> None:
    guarded = open_page(browser, (runs.failed.out / "report.html").as_uri(), "dark")
    page = guarded.page
    page.emulate_media(media="print")

    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    page.screenshot(path=str(_screenshots(tmp_path) / "report-print.png"), full_page=True)
    assert (guarded.console_errors, guarded.blocked) == ([], [])
    page.close()
