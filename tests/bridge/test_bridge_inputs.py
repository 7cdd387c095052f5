"""A bridged test's plan fields: each bad input named with what was expected, and the CLI's exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sk_loadagent.cli.main import main
from sk_loadagent.errors import InputError
from sk_loadagent.models import TestSuitePlan, load_document
from sk_loadagent.sample_service import SampleService, samples_dir

Script = Callable[[str, str], Path]


def _plan_error(tmp_path: Path, test: str) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text("moduleId: CheckoutService\ntests:\n  - " + test.replace("\n", "\n    ") + "\n")
    with pytest.raises(InputError) as caught:
        load_document(path, TestSuitePlan)
    assert caught.value.exit_code == 2
    return str(caught.value).removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("test", "message"),
    [
        (
            "type: load\nname: k\nrunner: k6\nduration: 5s",
            "tests[0].script: expected a k6 script such as checkout.js (runner: k6 runs it)",
        ),
        (
            "type: load\nname: k\nrunner: locust\nduration: 5s",
            "tests[0].script: expected a locustfile such as locustfile.py (runner: locust runs it)",
        ),
        (
            "type: load\nrps: 5\nduration: 5s\nscript: a.js",
            "tests[0].script: expected no script without runner: k6 or runner: locust, got 'a.js'",
        ),
        (
            "type: stress\nname: k\nrunner: k6\nscript: a.js\nduration: 5s",
            "tests[0].type: expected load, soak, concurrency (the types a runner: k6 test can be), "
            "got stress",
        ),
        (
            "type: load\nrunner: k6\nscript: a.js\nduration: 5s",
            "tests[0].name: expected a name for the bridged test, such as checkout-k6 (its memory series is "
            "keyed by it)",
        ),
        (
            "type: load\nname: k\nrunner: k6\nscript: a.js",
            "tests[0].duration: expected the longest the k6 run may take, such as 30s (it is stopped there)",
        ),
        (
            "type: load\nname: k\nrunner: k6\nscript: a.js\nduration: 5s\nrps: 50",
            "tests[0].rps: expected no rps in a runner: k6 test (its script sets the load), got 50",
        ),
        (
            "type: load\nname: k\nrunner: k6\nscript: a.js\nduration: 5s\nvus: 5",
            "tests[0].vus: expected no vus in a runner: k6 test (its script sets the load), got 5",
        ),
        (
            "type: load\nname: k\nrunner: jmeter\nscript: a.jmx\nduration: 5s",
            "tests[0].runner: expected one of 'engine', 'k6' or 'locust', got 'jmeter'",
        ),
    ],
)
def test_bad_bridged_test(tmp_path: Path, test: str, message: str) -> None:
    assert _plan_error(tmp_path, test) == message


def test_locust_takes_its_user_count_from_vus(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    test = "{type: load, name: l, runner: locust, script: lf.py, vus: 3, duration: 2s}"
    path.write_text(f"moduleId: M\ntests:\n  - {test}\n")
    plan = load_document(path, TestSuitePlan)
    assert (plan.tests[0].vus, plan.tests[0].bridge_endpoint()) == (3, "locust:l")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing the CLI writes by default lands in the repository


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, test: str) -> tuple[int, str, Path]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"moduleId: CheckoutService\nbaseUrl: {url}\ntests:\n  - {test}\n", encoding="utf-8")
    code = main(["run", "--plan", str(plan), "--out", str(tmp_path / "out"), "--no-memory"])
    return code, capsys.readouterr().err, plan


def test_cli_a_missing_script_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test = "{type: load, name: k, runner: k6, script: gone.js, duration: 2s}"
    code, err, plan = _run(tmp_path, capsys, "http://127.0.0.1:9", test)
    assert code == 2
    assert f"{plan}: tests[0].script: expected an existing k6 script file, got {tmp_path / 'gone.js'}" in err


def test_cli_a_failing_script_exits_2_with_k6s_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], service: SampleService, script: Script
) -> None:
    script("bad.js", "export default function () { http.get( }\n")
    code, err, plan = _run(
        tmp_path, capsys, service.url, "{type: load, name: k, runner: k6, script: bad.js, duration: 2s}"
    )
    assert code == 2
    assert (
        f"{plan}: tests[0].script: expected a k6 script that runs (k6 exited with 107), got GoError: "
        f"file://{tmp_path / 'bad.js'}: Line 1:40 Unexpected token }} (and 2 more errors)\n" in err
    )


def test_cli_the_sample_k6_plan_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], service: SampleService
) -> None:
    plan = samples_dir() / "vetclinic" / "plans" / "checkout-k6.plan.yaml"
    code = main(
        ["run", "--plan", str(plan), "--target-url", service.url, "--out", str(tmp_path), "--no-memory"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "checkout-k6                    pass" in out
    assert "Load test on k6:checkout-k6" in out


def test_a_missing_tool_names_the_pip_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sk_loadagent.bridge import _tools

    monkeypatch.setattr(_tools.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(_tools.shutil, "which", lambda _name: None)
    with pytest.raises(InputError) as caught:
        _tools.executable("locust", "locust", "locust")
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "locust: runner: expected the locust executable (pip install 'sk-loadagent[locust]'), "
        "got not installed"
    )
