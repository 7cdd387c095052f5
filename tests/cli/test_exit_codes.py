"""Exit codes and messages of `sk-loadagent run` for bad input (2) and an unreachable target (3).

Each message names the file, the field and what was expected, on one line of stderr, without a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
CLOSED = "http://127.0.0.1:9"  # never contacted: every case here fails before any load is sent


def bad_input(message: str) -> str:
    return f"sk-loadagent: bad input: {message}\n"


def run_plan(cli: Cli, plan: Path | str, *extra: str) -> Any:
    return cli("run", "--plan", str(plan), "--no-memory", "--quiet", "--out", "out", *extra)


def assert_refused(result: Any, code: int, stderr: str) -> None:
    assert (result.code, result.err, result.out) == (code, stderr, "")


def test_a_yaml_syntax_error_names_line_and_column(cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "suite.plan.yaml"
    plan.write_text(
        f"traceId: t\nmoduleId: CheckoutService\nbaseUrl: {CLOSED}\ntests:\n  - type: load\n    rps: [20\n"
        "    duration: 1s\n"
    )

    assert_refused(
        run_plan(cli, plan),
        2,
        bad_input(
            f"{plan}: line 7 column 13: expected valid YAML, "
            "got a syntax error (expected ',' or ']', but got ':')"
        ),
    )


def test_a_json_plan_with_a_syntax_error(cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "suite.plan.json"
    plan.write_text('{"moduleId": "M", "tests": [{"type": "load",}]}')

    assert_refused(
        run_plan(cli, plan),
        2,
        bad_input(
            f"{plan}: line 1 column 45: expected valid JSON, got a syntax error "
            "(Expecting property name enclosed in double quotes)"
        ),
    )


def test_a_missing_required_field(cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "suite.plan.yaml"
    plan.write_text(
        f"traceId: t\nbaseUrl: {CLOSED}\nendpoint: /x\ntests:\n  - type: load\n    rps: 5\n    duration: 1s\n"
    )

    assert_refused(
        run_plan(cli, plan), 2, bad_input(f"{plan}: moduleId: expected a value (this field is required)")
    )


def test_a_field_a_test_type_requires(cli: Cli, write_plan: Callable[..., Path]) -> None:
    plan = write_plan(CLOSED, test="type: spike\n    duration: 1s")

    assert_refused(
        run_plan(cli, plan),
        2,
        bad_input(f"{plan}: tests[0].rps: expected the target requests per second (a spike test needs rps)"),
    )


def test_an_unknown_test_type(cli: Cli, write_plan: Callable[..., Path]) -> None:
    plan = write_plan(CLOSED, test="type: loadd\n    rps: 5\n    duration: 1s")

    assert_refused(
        run_plan(cli, plan),
        2,
        bad_input(
            f"{plan}: tests[0].type: expected one of 'load', 'spike', 'soak', 'stress', 'concurrency', "
            "'latency' or 'custom', got 'loadd'"
        ),
    )


def test_a_negative_rps(cli: Cli, write_plan: Callable[..., Path]) -> None:
    plan = write_plan(CLOSED, test="type: load\n    rps: -5\n    duration: 1s")

    assert_refused(
        run_plan(cli, plan), 2, bad_input(f"{plan}: tests[0].rps: expected a number greater than 0, got -5")
    )


def test_a_plan_that_does_not_exist(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "suite.plan.yaml"

    assert_refused(
        run_plan(cli, missing),
        2,
        bad_input(f"{missing}: <file>: expected an existing file, got no file at this path"),
    )


def test_a_plan_that_is_a_directory(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()

    assert_refused(run_plan(cli, folder), 2, bad_input(f"{folder}: <file>: expected a file, got a directory"))


def test_a_bad_thresholds_file_is_named_too(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    plan = write_plan(CLOSED)
    missing = tmp_path / "perf-thresholds.yaml"

    assert_refused(
        run_plan(cli, plan, "--thresholds", str(missing)),
        2,
        bad_input(f"{missing}: <file>: expected an existing file, got no file at this path"),
    )


@pytest.mark.parametrize(
    ("where", "host", "allow"),
    [
        ("plan", "203.0.113.10", "203.0.113.10"),
        ("--target-url", "2001:db8::1", "[2001:db8::1]"),
    ],
)
def test_a_non_loopback_target_is_refused_with_how_to_allow_it(
    cli: Cli, write_plan: Callable[..., Path], where: str, host: str, allow: str
) -> None:
    url = f"http://{allow}:8080"
    plan = write_plan(url if where == "plan" else CLOSED)
    extra = ("--target-url", url) if where == "--target-url" else ()

    assert_refused(
        run_plan(cli, plan, *extra),
        2,
        bad_input(
            f"target {url}: host: expected a loopback host (127.0.0.1, ::1, localhost), got {host}; "
            f"to load a non-loopback host, list it under allowHosts in the plan or pass --allow-host {allow}"
        ),
    )


def test_a_target_nothing_listens_on_exits_3(
    cli: Cli, write_plan: Callable[..., Path], closed_port: int
) -> None:
    port = closed_port
    plan = write_plan(f"http://127.0.0.1:{port}", test="type: load\n    rps: 5\n    duration: 1s")

    result = run_plan(cli, plan, "--workers", "0")

    assert_refused(
        result,
        3,
        f"sk-loadagent: error: target http://127.0.0.1:{port}/checkout/submit: connection refused: nothing "
        f"listens on 127.0.0.1:{port}; is the service running?\n",
    )
    assert not Path("out").exists()  # no artifacts from a run that measured nothing


@pytest.mark.parametrize(("value", "shown"), [("85", "85"), ("-0.1", "-0.1"), ("high", "'high'")])
def test_a_min_score_outside_0_to_1_is_bad_input(
    cli: Cli, write_plan: Callable[..., Path], capsys: pytest.CaptureFixture[str], value: str, shown: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("run", "--plan", str(write_plan(CLOSED)), "--min-score", value)

    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"sk-loadagent run: error: argument --min-score: expected a score between 0 and 1, got {shown}\n"
    )


def test_the_installed_command_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    """Out of process, where nothing else captures Semantic Kernel's own error logging."""
    plan = tmp_path / "suite.plan.yaml"
    plan.write_text(f"moduleId: M\nbaseUrl: {CLOSED}\nendpoint: /x\ntests:\n  - type: load\n    rps: -5\n")

    done = subprocess.run(
        [sys.executable, "-m", "sk_loadagent.cli.main", "run", "--plan", str(plan), "--no-memory"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == bad_input(f"{plan}: tests[0].rps: expected a number greater than 0, got -5")


# A bad observability config (--observability FILE or the plan's observability: block) exits 2 naming the
# file and the field, before any load is sent.
OBS_PLAN = (
    f"traceId: t\nmoduleId: CheckoutService\nbaseUrl: {CLOSED}\n"
    "tests:\n  - type: load\n    rps: 5\n    duration: 1s\n"
)


def test_a_sampling_share_above_one(cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "suite.plan.yaml"
    plan.write_text(OBS_PLAN)
    config = tmp_path / "observability.config.yaml"
    config.write_text("sampling: 1.5\n")
    assert_refused(
        run_plan(cli, plan, "--observability", str(config)),
        2,
        bad_input(f"{config}: sampling: expected a number less than or equal to 1, got 1.5"),
    )


def test_a_receiver_on_a_services_port_in_the_plan(cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "suite.plan.yaml"
    plan.write_text(
        OBS_PLAN + "observability:\n  spans:\n    - source: otlp\n      url: http://127.0.0.1:6379\n"
    )
    assert_refused(
        run_plan(cli, plan),
        2,
        bad_input(
            f"{plan}: observability.spans[0].url: expected a port other than the local services' ports, "
            "got 6379"
        ),
    )


def test_an_unknown_series_key(cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "suite.plan.yaml"
    plan.write_text(OBS_PLAN)
    config = tmp_path / "observability.config.yaml"
    config.write_text(
        "metrics:\n  - source: prometheus\n    url: http://127.0.0.1:9464/metrics\n    series: {heap: x}\n"
    )
    assert_refused(
        run_plan(cli, plan, "--observability", str(config)),
        2,
        bad_input(
            f"{config}: metrics[0].series: expected series keys among cpu, memory, gc, queue (not heap), "
            'got {"heap": "x"}'
        ),
    )
