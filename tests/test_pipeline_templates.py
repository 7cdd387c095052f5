"""The pipeline templates (pipelines/github/action.yml, pipelines/azure/run-load-tests.yml) take spec cycle
9's task inputs, and the command line their script builds is one `sk-loadagent run` accepts: the script is
run with a stand-in `sk-loadagent` that records its arguments, which the real parser then reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sk_loadagent.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
SPEC_INPUTS = {"traceId", "moduleId", "editionId", "testSuitePath", "thresholdsPath", "failOnDegraded"}
GITHUB = ROOT / "pipelines" / "github" / "action.yml"
AZURE = ROOT / "pipelines" / "azure" / "run-load-tests.yml"


def _github() -> tuple[set[str], dict[str, Any]]:
    action = yaml.safe_load(GITHUB.read_text())
    step = next(s for s in action["runs"]["steps"] if s.get("name") == "Run the load tests")
    return set(action["inputs"]), step


def _azure() -> tuple[set[str], dict[str, Any]]:
    template = yaml.safe_load(AZURE.read_text())
    step = next(s for s in template["steps"] if s.get("displayName") == "Run load tests")
    return {p["name"] for p in template["parameters"]}, {"run": step["bash"], "env": step["env"]}


def _arguments(script: str, env: dict[str, str], tmp_path: Path) -> list[str]:
    """What the script passes to sk-loadagent (a stand-in on PATH writes its arguments, one per line)."""
    stand_in = tmp_path / "bin" / "sk-loadagent"
    stand_in.parent.mkdir()
    stand_in.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n')
    stand_in.chmod(0o755)
    args_file = tmp_path / "args"
    environment = {
        "PATH": f"{stand_in.parent}:{os.environ['PATH']}",
        "ARGS_FILE": str(args_file),
        **env,
    }
    # GitHub runs `shell: bash` as `bash -eo pipefail`; the script must hold under it.
    subprocess.run(["bash", "-eo", "pipefail", "-c", script], env=environment, check=True, timeout=30)
    return args_file.read_text().splitlines()


@pytest.mark.parametrize("template", [_github, _azure], ids=["github", "azure"])
def test_a_template_takes_the_spec_inputs_and_passes_each_on(template: Any) -> None:
    inputs, step = template()
    assert inputs >= SPEC_INPUTS
    passed_on = " ".join(str(v) for v in step["env"].values())
    assert [name for name in sorted(inputs - {"package"}) if f".{name} }}}}" not in passed_on] == []


@pytest.mark.parametrize(("template", "true"), [(_github, "true"), (_azure, "True")], ids=["github", "azure"])
def test_the_command_line_a_template_builds_is_one_the_cli_reads(
    template: Any, true: str, tmp_path: Path
) -> None:
    _, step = template()
    env = {
        "TRACE_ID": "1234",
        "MODULE_ID": "CheckoutService",
        "EDITION_ID": "vetclinic",
        "TEST_SUITE_PATH": "tests/performance/test-suite.plan.yaml",
        "THRESHOLDS_PATH": "tests/performance/perf-thresholds.yaml",
        "FAIL_ON_DEGRADED": "false" if true == "true" else "False",
        "WARN_ON_REGRESSION": true,
        "RETRY_ON_FLAKINESS": true,
        "EDITION_OVERRIDE": true,
        "EDITIONS_PATH": "tests/performance/edition.config.json",
        "MIN_SCORE": "0.85",
        "TARGET_URL": "http://127.0.0.1:8080",
        "MEMORY": ".sk-loadagent/memory.sqlite",
        "OUT": "perf",
    }
    args = build_parser().parse_args(_arguments(step["run"], env, tmp_path))

    assert (args.command, args.plan, args.thresholds) == (
        "run",
        "tests/performance/test-suite.plan.yaml",
        ["tests/performance/perf-thresholds.yaml"],
    )
    assert (args.trace_id, args.module, args.edition, args.target_url) == (
        "1234",
        "CheckoutService",
        "vetclinic",
        "http://127.0.0.1:8080",
    )
    assert (args.fail_on_degraded, args.warn_on_regression, args.retry_on_flakiness, args.min_score) == (
        False,
        True,
        True,
        0.85,
    )
    assert (args.out, args.junit, args.memory) == ("perf", "perf/junit.xml", ".sk-loadagent/memory.sqlite")
    assert (args.edition_override, args.editions) == (True, "tests/performance/edition.config.json")

    minimal = {**dict.fromkeys(env, ""), "TEST_SUITE_PATH": "plan.yaml", "OUT": "perf", "TRACE_ID": "1"}
    minimal["FAIL_ON_DEGRADED"] = true
    (tmp_path / "second").mkdir()
    args = build_parser().parse_args(_arguments(step["run"], minimal, tmp_path / "second"))
    assert (args.module, args.edition, args.thresholds, args.fail_on_degraded, args.warn_on_regression) == (
        None,
        None,
        [],
        True,
        False,
    )


def test_the_github_action_reads_the_verdict_of_one_run_or_of_every_edition(tmp_path: Path) -> None:
    action = yaml.safe_load(GITHUB.read_text())
    script = next(s for s in action["runs"]["steps"] if s.get("id") == "result")["run"]
    out = tmp_path / "perf"
    for edition, score, status in (("vetclinic", 0.97, "pass"), ("vetclinic-premium", 0.62, "degraded")):
        (out / edition).mkdir(parents=True)
        (out / edition / "perf-metrics.json").write_text(
            f'{{"performanceScore": {score}, "status": "{status}"}}'
        )
    outputs = tmp_path / "github-output"
    # The step runs `python`: this interpreter's folder first, as a job's setup-python would put it.
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    env = {"PATH": path, "OUT": str(out), "GITHUB_OUTPUT": str(outputs)}

    subprocess.run(["bash", "-eo", "pipefail", "-c", script], env=env, check=True, timeout=30)
    assert outputs.read_text() == "performanceScore=0.62\nstatus=degraded\n"

    (out / "perf-metrics.json").write_text('{"performanceScore": 0.91, "status": "pass"}')
    outputs.unlink()
    subprocess.run(["bash", "-eo", "pipefail", "-c", script], env=env, check=True, timeout=30)
    assert outputs.read_text() == "performanceScore=0.91\nstatus=pass\n"
