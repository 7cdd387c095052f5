"""`sk-loadagent run` against an HTTPS target: the TLS options and flags, what a refused certificate says
(exit 3), bad TLS options and proxies (exit 2, before any connection) and the warning a skipped verification
leaves in perf-metrics.json and the printed summary."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tls_support import HttpsServer, Pki

Cli = Callable[..., Any]
COMMON = ("--no-memory", "--quiet", "--workers", "0", "--max-retries", "0", "--out", "out")
INSECURE = (
    "tls: certificate verification was skipped (insecureSkipVerify / --insecure): the target's identity "
    "was not checked"
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def self_signed(pki: Pki) -> Iterator[HttpsServer]:
    server = HttpsServer(pki.server_context("self-signed"))
    yield server
    server.stop()


@pytest.fixture
def ca_signed(pki: Pki) -> Iterator[HttpsServer]:
    server = HttpsServer(pki.server_context())
    yield server
    server.stop()


def write_plan(
    folder: Path, base_url: str, *, plan_tls: str = "", test_tls: str = "", extra: str = ""
) -> Path:
    """A one-test plan (20 GET requests in 0.5 s) with optional plan-level and test-level tls blocks."""
    path = folder / "tls.plan.yaml"
    text = f"moduleId: CheckoutService\nbaseUrl: {base_url}\nendpoint: /health\n{extra}"
    if plan_tls:
        text += f"tls:\n  {plan_tls}\n"
    text += "tests:\n  - type: load\n    rps: 40\n    duration: 500ms\n    rampUp: 0s\n"
    if test_tls:
        text += f"    tls:\n      {test_tls}\n"
    path.write_text(text, encoding="utf-8")
    return path


def run(cli: Cli, plan: Path, *flags: str) -> Any:
    return cli("run", "--plan", str(plan), *COMMON, *flags)


def bad_input(message: str) -> str:
    return f"sk-loadagent: bad input: {message}\n"


def test_a_self_signed_certificate_exits_3_naming_the_fix(
    cli: Cli, tmp_path: Path, self_signed: HttpsServer
) -> None:
    result = run(cli, write_plan(tmp_path, self_signed.url))
    assert (result.code, result.out) == (3, "")
    assert result.err == (
        f"sk-loadagent: error: target {self_signed.url}/health: TLS handshake failed: certificate verify "
        "failed: self-signed certificate — pass --ca-file FILE or tls.caFile, or --insecure\n"
    )
    assert self_signed.requests == 0
    assert not Path("out").exists()


def test_insecure_passes_and_the_skipped_verification_is_written_and_printed(
    cli: Cli, tmp_path: Path, self_signed: HttpsServer
) -> None:
    result = run(cli, write_plan(tmp_path, self_signed.url), "--insecure")
    assert result.code == 0, result.err
    assert f"warning: {INSECURE}" in result.out
    metrics = json.loads(Path("out/perf-metrics.json").read_text())
    assert INSECURE in metrics["warnings"]
    assert INSECURE in metrics["tests"][0]["warnings"]
    assert metrics["errors"] is None or metrics["errors"] == {}
    assert self_signed.requests == 20


def test_ca_file_on_the_command_line(cli: Cli, tmp_path: Path, pki: Pki, ca_signed: HttpsServer) -> None:
    result = run(cli, write_plan(tmp_path, ca_signed.url), "--ca-file", str(pki.ca_file))
    assert result.code == 0, result.err
    metrics = json.loads(Path("out/perf-metrics.json").read_text())
    assert metrics["generator"]["transport"] == "fast"
    assert not any(w.startswith("tls:") for w in metrics.get("warnings") or [])
    assert ca_signed.requests == 20


def test_a_plans_tls_files_are_read_from_the_plans_folder(
    cli: Cli, tmp_path: Path, pki: Pki, ca_signed: HttpsServer
) -> None:
    folder = tmp_path / "suite"
    (folder / "certs").mkdir(parents=True)
    (folder / "certs" / "ca.pem").write_bytes(pki.ca_file.read_bytes())
    plan = write_plan(folder, ca_signed.url, plan_tls="caFile: certs/ca.pem")
    result = run(cli, plan)  # run from another folder (the test's cwd)
    assert result.code == 0, result.err
    assert ca_signed.requests == 20


def test_the_tests_tls_block_overrides_the_plans_field_by_field(cli: Cli, tmp_path: Path, pki: Pki) -> None:
    server = HttpsServer(pki.server_context("other-host"))
    try:
        plan = write_plan(
            tmp_path,
            server.url,
            plan_tls=f"{{caFile: {pki.ca_file}, serverName: wrong.test}}",
            test_tls="serverName: other.test",
        )
        result = run(cli, plan)
    finally:
        server.stop()
    assert result.code == 0, result.err  # caFile from the plan, serverName from the test
    assert server.requests == 20


def test_the_command_line_wins_over_the_plan(cli: Cli, tmp_path: Path, self_signed: HttpsServer) -> None:
    plan = write_plan(tmp_path, self_signed.url, plan_tls="insecureSkipVerify: false")
    assert run(cli, plan, "--insecure").code == 0


# -- bad TLS options and proxies: exit 2 before any load ---------------------------------------------------
# What the plan says (write_plan's keyword arguments) and the message after "<plan file>: ", with {pki} the
# test PKI's folder and {dir} the plan's.
BAD_PLANS: dict[str, tuple[dict[str, str], str]] = {
    "missing caFile": (
        {"plan_tls": "caFile: nowhere/ca.pem"},
        "tls.caFile: expected an existing PEM file, got {dir}/nowhere/ca.pem (no file at this path)",
    ),
    "caFile without certificates": (
        {"test_tls": "caFile: {pki}/client.key"},
        "tests[0].tls.caFile: expected a PEM file of CA certificates, got {pki}/client.key "
        "(no certificate or crl found)",
    ),
    "key of another certificate": (
        {"test_tls": "{{certFile: {pki}/client.crt, keyFile: {pki}/other.key}}"},
        "tests[0].tls.keyFile: expected the private key of the certificate in certFile ({pki}/client.crt), "
        "got {pki}/other.key (another key)",
    ),
    "key without certificate": (
        {"test_tls": "keyFile: {pki}/client.key"},
        "tests[0].tls.certFile: expected the client certificate (PEM) that keyFile belongs to",
    ),
    "encrypted key": (
        {"test_tls": "{{certFile: {pki}/client.crt, keyFile: {pki}/encrypted.key}}"},
        "tests[0].tls.keyFile: expected an unencrypted PEM private key, got a key that needs a pass phrase",
    ),
    "certFile without a certificate": (
        {"test_tls": "{{certFile: {pki}/client.key, keyFile: {pki}/client.key}}"},
        "tests[0].tls.certFile: expected a PEM client certificate, "
        "got {pki}/client.key (no certificate in it)",
    ),
    "certFile without its key": (
        {"test_tls": "certFile: {pki}/client.crt"},
        "tests[0].tls.certFile: expected a PEM certificate followed by its private key (or set keyFile), "
        "got {pki}/client.crt (no private key in it)",
    ),
    "serverName with a scheme": (
        {"plan_tls": "serverName: https://api.test"},
        "tls.serverName: expected a host name such as api.example.test (no scheme, port or path), "
        "got 'https://api.test'",
    ),
    "minVersion 1.1": (
        {"test_tls": "minVersion: 1.1"},
        "tests[0].tls.minVersion: expected 1.2 or 1.3 (the lowest TLS version to accept), got 1.1",
    ),
    "minVersion SSLv3": (
        {"test_tls": "minVersion: SSLv3"},
        "tests[0].tls.minVersion: expected 1.2 or 1.3 (the lowest TLS version to accept), got 'SSLv3'",
    ),
    "proxy with credentials": (
        {"extra": "proxy: http://load:s3cret@127.0.0.1:3128\n"},
        "proxy: expected a proxy URL without user:password@ (give a proxy that needs credentials in "
        "HTTPS_PROXY), got 'http://load:***@127.0.0.1:3128'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_PLANS))
def test_bad_tls_options_exit_2_before_any_connection(
    cli: Cli, tmp_path: Path, pki: Pki, self_signed: HttpsServer, case: str
) -> None:
    fields, message = BAD_PLANS[case]
    plan = write_plan(tmp_path, self_signed.url, **{k: v.format(pki=pki.folder) for k, v in fields.items()})
    result = run(cli, plan)
    expected = bad_input(f"{plan}: " + message.format(pki=pki.folder, dir=tmp_path))
    assert (result.code, result.err, result.out) == (2, expected, "")
    assert self_signed.connections == 0


@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_missing_ca_file_on_the_command_line(
    cli: Cli, tmp_path: Path, self_signed: HttpsServer, command: str
) -> None:
    plan = write_plan(tmp_path, self_signed.url)
    result = cli(
        command, "--plan", str(plan), "--ca-file", "missing-ca.pem", *(COMMON if command == "run" else ())
    )
    assert result.err == bad_input(
        "command line: --ca-file: expected an existing PEM file, got missing-ca.pem (no file at this path)"
    )
    assert result.code == 2
    assert self_signed.connections == 0


def test_a_proxy_outside_loopback_is_refused(cli: Cli, tmp_path: Path) -> None:
    plan = write_plan(tmp_path, "http://127.0.0.1:9", extra="proxy: http://proxy.example:3128\n")
    result = run(cli, plan)
    assert result.err == bad_input(
        "proxy http://proxy.example:3128: host: expected a loopback host (127.0.0.1, ::1, localhost), got "
        "proxy.example; to send load through a non-loopback proxy, list it under allowHosts or "
        "--allow-host proxy.example"
    )
    assert result.code == 2


def test_min_version_accepts_the_usual_spellings(cli: Cli, tmp_path: Path, pki: Pki) -> None:
    for written in ("1.3", "'1.3'", "TLSv1.3"):
        server = HttpsServer(pki.server_context())
        try:
            plan = write_plan(
                tmp_path, server.url, test_tls=f"{{minVersion: {written}, caFile: {pki.ca_file}}}"
            )
            assert run(cli, plan).code == 0
        finally:
            server.stop()
        assert set(server.versions) == {"TLSv1.3"}
