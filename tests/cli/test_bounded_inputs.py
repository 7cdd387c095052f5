"""Plans over a cap, or with something the engine cannot send, exit 2 before any load with one exact line.

Every plan here targets a port nothing listens on: had any load been attempted, the exit code would be 3.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Cli = Callable[..., Any]
CLOSED = "http://127.0.0.1:9"
README = Path(__file__).resolve().parents[2] / "README.md"


def write(tmp_path: Path, test: str, *, name: str = "plan.yaml", endpoint: str = "/checkout/submit") -> Path:
    path = tmp_path / name
    body = test.replace("\n", "\n    ")
    path.write_text(
        f"moduleId: M\nbaseUrl: {CLOSED}\nendpoint: '{endpoint}'\ntests:\n  - {body}\n", encoding="utf-8"
    )
    return path


def refused(cli: Cli, plan: Path, *flags: str, command: str = "run") -> str:
    extra = ("--no-memory", "--quiet", "--out", "out", "--workers", "2") if command == "run" else ()
    result = cli(command, "--plan", str(plan), *extra, *flags)
    assert (result.code, result.out) == (2, ""), result.err
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err
    assert not Path("out").exists()
    prefix = f"sk-loadagent: bad input: {plan}: "
    assert result.err.startswith(prefix)
    return str(result.err[len(prefix) : -1])


def test_a_rate_of_a_billion_is_refused_by_the_memory_cap(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: 1e9\nduration: 10s")
    assert refused(cli, plan, "--cap", "memory=4GiB") == (
        "tests[0].rps: expected a test whose generator needs at most 4 GiB of memory (the memory cap: set "
        "with --cap; --cap memory=SIZE changes it), got 1e+09 rps, which needs about 1.2 TiB, 1.2 TiB of it "
        "for requests waiting for a connection, up to the peak rate × the timeout"
    )


def test_by_default_the_memory_cap_is_half_of_what_this_machine_has_available(
    cli: Cli, tmp_path: Path
) -> None:
    plan = write(tmp_path, "type: load\nrps: 1e9\nduration: 10s")
    message = refused(cli, plan)
    assert re.fullmatch(
        r"tests\[0\]\.rps: expected a test whose generator needs at most [\d.]+ [KMGT]iB of memory \(the "
        r"memory cap: half of the [\d.]+ [KMGT]iB this machine has available; --cap memory=SIZE changes "
        r"it\), got 1e\+09 rps, which needs about .*",
        message,
    ), message


def test_ten_million_vus_are_refused_by_the_connection_cap(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: concurrency\nvus: 10000000\nduration: 10s")
    assert refused(cli, plan, "--cap", "connections=40000") == (
        "tests[0].vus: expected at most 40,000 virtual users, one connection each (the connections cap: set "
        "with --cap; --cap connections=N changes it), got 10,000,000"
    )


def test_by_default_the_connection_cap_comes_from_the_open_file_limit(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: concurrency\nvus: 10000000\nduration: 10s")
    assert re.fullmatch(
        r"tests\[0\]\.vus: expected at most [\d,]+ virtual users, one connection each \(the connections cap: "
        r"2 generator processes × [\d,]+ connections, the open-file limit less 64; --cap connections=N "
        r"changes it\), got 10,000,000",
        refused(cli, plan),
    )


def test_max_connections_over_the_cap(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: 100\nduration: 1s\nmaxConnections: 5000")
    assert refused(cli, plan, "--cap", "connections=1000") == (
        "tests[0].maxConnections: expected at most 1,000 connections (the connections cap: set with --cap; "
        "--cap connections=N changes it), got 5,000"
    )


def test_a_thousand_hours_is_refused_by_the_duration_cap_as_the_readme_shows(
    cli: Cli, tmp_path: Path
) -> None:
    plan = write(tmp_path, "type: load\nrps: 5\nduration: 1000h")
    message = refused(cli, plan)
    assert message == (
        "tests[0].duration: expected a schedule of at most 24h (the duration cap: the default, so that a "
        "typo cannot hold a CI job for days; --cap duration=DURATION changes it), got 1000h"
    )
    assert f"    sk-loadagent: bad input: plan.yaml: {message}\n" in README.read_text(encoding="utf-8")


def test_a_long_soak_over_memory_names_its_duration(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: soak\nrps: 1\nduration: 20h")
    assert refused(cli, plan, "--cap", "memory=1GiB") == (
        "tests[0].duration: expected a test whose generator needs at most 1 GiB of memory (the memory cap: "
        "set with --cap; --cap memory=SIZE changes it), got 20h, a schedule of 20.01h with its other phases, "
        "which needs about 6.2 GiB, 6.2 GiB of it for per-second windows"
    )


def test_caps_switched_off_let_the_plan_through(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: 5\nduration: 1000h")
    # Over the duration cap, and its 3.6 million one-second windows over the memory cap too.
    result = cli("plan", "--plan", str(plan), "--cap", "duration=off", "--cap", "memory=off")
    assert result.code == 0, result.err
    assert "hold 5 rps for 1000h" in result.out


def test_plan_checks_the_caps_too(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: 5\nduration: 1000h")
    assert refused(cli, plan, command="plan").startswith(
        "tests[0].duration: expected a schedule of at most 24h"
    )


def test_a_body_over_the_body_cap(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: 5\nduration: 1s\nbody: '" + "x" * 2048 + "'")
    assert refused(cli, plan, "--cap", "body=1KiB") == (
        "tests[0].body: expected a request body of at most 1 KiB (the body cap: set with --cap; --cap "
        "body=SIZE changes it), got 2 KiB"
    )


def test_a_payload_size_over_the_body_cap(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: latency\nduration: 4s\npayloadSizes: [0, 1073741824]")
    assert refused(cli, plan) == (
        "tests[0].payloadSizes: expected a request body of at most 16 MiB (the body cap: the default; --cap "
        "body=SIZE changes it), got 1 GiB"
    )


def test_a_duration_too_short_for_one_request(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: 5\nduration: 1ms")
    assert refused(cli, plan) == (
        "tests[0].duration: expected a duration long enough for at least one measured request (at 5 rps: at "
        "least 200ms), got 1ms, a schedule of 1.1ms with its other phases"
    )


def test_rps_true_is_not_one_request_a_second(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: true\nduration: 1s")
    assert refused(cli, plan) == "tests[0].rps: expected a number, got true"


def test_rps_infinity_is_bad_input_not_a_traceback(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: .inf\nduration: 1s")
    assert refused(cli, plan) == "tests[0].rps: expected a finite number, got Infinity"


def test_a_duplicate_key_is_refused(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: 5\nrps: 7\nduration: 1s")
    assert refused(cli, plan) == (
        "line 7 column 5: expected each key once in a mapping, got 'rps' a second time (first on line 6)"
    )


@pytest.mark.parametrize(
    ("endpoint", "encoded"), [("/checkout submit", "/checkout%20submit"), ("/pets/Zoë", "/pets/Zo%C3%AB")]
)
def test_an_endpoint_with_a_space_or_non_ascii_is_refused_with_its_encoded_form(
    cli: Cli, tmp_path: Path, endpoint: str, encoded: str
) -> None:
    plan = write(tmp_path, "type: load\nrps: 5\nduration: 1s", endpoint=endpoint)
    assert refused(cli, plan) == (
        f"endpoint: expected a path of URL characters, with the others percent-encoded, such as {encoded}, "
        f"got '{endpoint}'"
    )


def test_a_header_that_is_not_latin_1_is_refused_before_any_worker_starts(cli: Cli, tmp_path: Path) -> None:
    plan = write(tmp_path, "type: load\nrps: 5\nduration: 1s\nheaders: {X-Name: 'Zoë ☃'}")
    assert refused(cli, plan) == (
        "tests[0].headers.X-Name: expected a header value in ISO-8859-1 (latin-1) without control "
        "characters; percent- or base64-encode other text, got 'Zoë ☃'"
    )


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "rps=100",
            "--cap: rps: expected a cap name: memory, connections, duration, body, values or file (rps is "
            "bounded by the memory cap, which bounds the backlog and samples a rate needs), got 'rps=100'",
        ),
        (
            "memory=lots",
            "--cap: memory: expected a size such as 512MiB, 8GiB or a number of bytes, or off, got 'lots'",
        ),
    ],
)
def test_a_bad_cap_flag_is_bad_input(cli: Cli, tmp_path: Path, flag: str, message: str) -> None:
    plan = write(tmp_path, "type: load\nrps: 5\nduration: 1s")
    result = cli("run", "--plan", str(plan), "--no-memory", "--quiet", "--cap", flag)
    assert (result.code, result.out, result.err) == (2, "", f"sk-loadagent: bad input: {message}\n")
