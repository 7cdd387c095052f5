"""Issue 8: the retry and stress inputs of `sk-loadagent run`, fed something bad — one line, exit 2, no load.

Nothing listens on the plan's target: each refusal comes before any request is sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sk_loadagent.cli.main import main

STRESS_PLAN = """\
moduleId: CheckoutService
baseUrl: http://127.0.0.1:9
endpoint: /checkout/submit
tests:
  - type: stress
    rps: 400
    stepDuration: 10s
    duration: 1m
"""


def _run(tmp_path: Path, *options: str) -> list[str]:
    return ["run", "--plan", str(tmp_path / "stress.plan.yaml"), "--no-memory", "--quiet", *options]


@pytest.mark.parametrize(
    ("option", "value"),
    [("--retry-cooldown", "soon"), ("--retry-budget", "-5"), ("--retry-budget", "inf")],
)
def test_a_retry_time_that_is_not_a_duration_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(_run(tmp_path, option, value))
    assert exited.value.code == 2
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line == (
        f"sk-loadagent run: error: argument {option}: expected a duration such as 30s, 5m, 1h or a number of "
        f"seconds, got '{value}'"
    )


def test_a_stress_duration_too_short_for_its_steps_and_probes_is_refused_before_any_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "stress.plan.yaml"
    plan.write_text(STRESS_PLAN, encoding="utf-8")
    code = main(_run(tmp_path, "--out", str(tmp_path / "perf")))
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == (
        f"sk-loadagent: bad input: {plan}: tests[0].duration: expected a duration of at least 2m (8 steps of "
        "10s and 4 probes of 10s to find the capacity), got 1m\n"
    )
