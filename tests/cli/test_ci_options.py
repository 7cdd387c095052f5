"""The CI options of `sk-loadagent run`: --junit is checked before any load is sent, --no-report writes no
report, a broken Studio file in --out is bad input, and --retry-on-flakiness asks for the pipeline's
retryOnFail."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sk_loadagent.cli.main import build_parser
from sk_loadagent.sample_service import SampleService

Cli = Callable[..., Any]


def test_a_junit_path_that_is_a_folder_is_refused_before_the_load_starts(
    cli: Cli, write_plan: Callable[..., Path], closed_port: int, tmp_path: Path
) -> None:
    # Nothing listens on the target: had any load been sent, the run would end with exit 3.
    plan = write_plan(f"http://127.0.0.1:{closed_port}")

    result = cli("run", "--plan", str(plan), "--no-memory", "--quiet", "--junit", str(tmp_path))

    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"sk-loadagent: bad input: --junit: {tmp_path}: expected a file to write the JUnit XML to, "
        "got a folder\n"
    )


def test_a_broken_studio_file_in_out_is_refused_before_the_load_starts(
    cli: Cli, write_plan: Callable[..., Path], closed_port: int, tmp_path: Path
) -> None:
    plan = write_plan(f"http://127.0.0.1:{closed_port}")
    out = tmp_path / "perf"
    out.mkdir()
    (out / "studio.analytics.json").write_text('{"scopes": [{"editionId": "vetclinic"}]}')

    result = cli("run", "--plan", str(plan), "--no-memory", "--quiet", "--out", str(out))

    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"sk-loadagent: bad input: {out / 'studio.analytics.json'}: scopes[0].moduleId: expected a value "
        "(this field is required)\n"
    )
    assert (out / "studio.analytics.json").read_text() == '{"scopes": [{"editionId": "vetclinic"}]}'


def test_no_report_leaves_report_html_out_and_the_preview_does_not_offer_it(
    cli: Cli, write_plan: Callable[..., Path], service: SampleService, tmp_path: Path
) -> None:
    plan = write_plan(service.url)
    out = tmp_path / "perf"

    result = cli("run", "--plan", str(plan), "--no-memory", "--quiet", "--out", str(out), "--no-report")

    assert result.code == 0, result.err
    assert not (out / "report.html").exists()
    assert "view-report" not in (out / "studio.performance.preview.json").read_text()
    assert (out / "doc-coverage.metrics.json").is_file()


def test_the_gating_flags_reach_the_suite_request() -> None:
    from sk_loadagent.cli.commands import suite_request

    args = build_parser().parse_args(
        ["run", "--plan", "p.yaml", "--warn-on-regression", "--retry-on-flakiness"]
    )
    request = suite_request(args)
    assert (request.warn_on_regression, request.retry_on_flakiness) == (True, True)
    plain = suite_request(build_parser().parse_args(["run", "--plan", "p.yaml"]))
    assert (plain.warn_on_regression, plain.retry_on_flakiness, plain.plan) == (False, False, "p.yaml")


EDITIONS = """{"editions": [
  {"editionId": "vetclinic", "modules": ["CheckoutService"], "slos": {"latencyP95": 2000}},
  {"editionId": "vetclinic-premium", "modules": ["CheckoutService"], "slos": {"latencyP95": 0.5}},
  {"editionId": "groomers", "modules": ["GroomingService"]}
]}
"""


def test_edition_override_runs_each_edition_of_the_module_with_its_own_limits(
    cli: Cli, write_plan: Callable[..., Path], service: SampleService, tmp_path: Path
) -> None:
    plan = write_plan(service.url)
    editions = tmp_path / "edition.config.json"
    editions.write_text(EDITIONS)
    out, junit = tmp_path / "perf", tmp_path / "junit.xml"

    result = cli(
        "run", "--plan", str(plan), "--editions", str(editions), "--edition-override", "--no-memory",
        "--quiet", "--max-retries", "0", "--out", str(out), "--junit", str(junit),
    )  # fmt: skip

    assert result.code == 1, result.err
    assert f"== Edition vetclinic (--out {out / 'vetclinic'}) ==" in result.out
    assert result.out.rstrip().endswith("Editions: 1 of 2 passed the gate (failed: vetclinic-premium)")
    base = json.loads((out / "vetclinic" / "perf-metrics.json").read_text())
    premium = json.loads((out / "vetclinic-premium" / "perf-metrics.json").read_text())
    assert (base["editionId"], base["status"]) == ("vetclinic", "pass")
    assert (premium["editionId"], premium["status"]) == ("vetclinic-premium", "degraded")
    assert premium["thresholds"][0] == {"metric": "latencyP95", "limit": 0.5, "source": "edition.config.json"}
    assert not (out / "groomers").exists()
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "CheckoutService/vetclinic",
        "CheckoutService/vetclinic-premium",
    ]


def test_edition_override_needs_the_editions_and_no_single_edition(
    cli: Cli, write_plan: Callable[..., Path], closed_port: int, tmp_path: Path
) -> None:
    plan = write_plan(f"http://127.0.0.1:{closed_port}")
    editions = tmp_path / "edition.config.json"
    editions.write_text(EDITIONS)
    run = ("run", "--plan", str(plan), "--no-memory", "--quiet", "--edition-override")

    missing = cli(*run)
    single = cli(*run, "--editions", str(editions), "--edition", "vetclinic")
    uncovered = cli(*run, "--editions", str(editions), "--module", "BillingService")

    assert [r.code for r in (missing, single, uncovered)] == [2, 2, 2]
    assert missing.err == (
        "sk-loadagent: bad input: --edition-override: --editions: expected an edition.config.json listing "
        "the editions to run, got none\n"
    )
    assert single.err == (
        "sk-loadagent: bad input: --edition-override: --edition: expected no single edition (every edition "
        "of --editions runs), got vetclinic\n"
    )
    assert uncovered.err == (
        f"sk-loadagent: bad input: {editions}: editions: expected an edition whose modules include "
        "BillingService, got none\n"
    )
