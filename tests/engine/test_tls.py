"""HTTPS on both transports against a loopback server with certificates the test makes (tls_support.Pki).

Each failure is checked twice where it applies: through run_load with a transport name (the preflight
handshake refuses the target before any worker starts) and with a transport object (no preflight: every
request fails in the run and the reasons are counted), so both messages a user can see are pinned.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from tls_support import HttpsServer, Pki

from sk_loadagent.engine import Outcome, RunOptions, RunResult, build_profile, run_load
from sk_loadagent.engine._transports.fast import FastTransport
from sk_loadagent.engine._transports.httpx import HttpxTransport
from sk_loadagent.errors import TargetUnreachableError
from sk_loadagent.models.plan import TestSpec

TRANSPORTS = ("fast", "httpx")
INSECURE = (
    "tls: certificate verification was skipped (insecureSkipVerify / --insecure): the target's identity "
    "was not checked"
)
CA_FIX = "pass --ca-file FILE or tls.caFile, or --insecure"
Serve = Callable[..., HttpsServer]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https() -> Iterator[Serve]:
    """``https(context)`` starts an HTTPS server (plain HTTP with None) and stops it after the test."""
    servers: list[HttpsServer] = []

    def start(context: ssl.SSLContext | None) -> HttpsServer:
        servers.append(HttpsServer(context))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def spec(tls: dict[str, Any] | None, **fields: Any) -> TestSpec:
    test = {"type": "load", "rps": 40, "duration": "500ms", "rampUp": "0s", "timeout": "2s", **fields}
    if tls is not None:
        test["tls"] = tls
    return TestSpec.model_validate(test)


async def run(url: str, transport: Any, tls: dict[str, Any] | None = None, **fields: Any) -> RunResult:
    profile = build_profile(spec(tls, **fields), base_url=url)
    return await run_load(profile, RunOptions(workers=0, transport=transport))


def transport_object(name: str) -> FastTransport | HttpxTransport:
    return FastTransport() if name == "fast" else HttpxTransport()


def outcomes(result: RunResult) -> dict[str, int]:
    counts = np.bincount(result.samples.outcome, minlength=len(Outcome))
    return {Outcome(i).name: int(n) for i, n in enumerate(counts) if n}


def tls_warnings(result: RunResult) -> list[str]:
    return [w for w in result.warnings if w.startswith("tls:")]


async def refused(url: str, transport: str, tls: dict[str, Any] | None = None, **fields: Any) -> str:
    """The one-line message when no request can get through, in the preflight and in the run."""
    with pytest.raises(TargetUnreachableError) as before:
        await run(url, transport, tls, **fields)
    with pytest.raises(TargetUnreachableError) as during:
        await run(url, transport_object(transport), tls, **fields)
    assert str(during.value).startswith(
        f"target {url}: no request got a response; all 20 attempts failed the TLS handshake: "
    ), str(during.value)
    reason = str(during.value).split("failed the TLS handshake: ", 1)[1]
    assert str(before.value) == f"target {url}: TLS handshake failed: {reason}"
    return reason


# -- what works --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_ca_file_verifies_the_server(pki: Pki, https: Serve, transport: str) -> None:
    server = https(pki.server_context())
    result = await run(server.url, transport, {"caFile": str(pki.ca_file)})
    assert result.generator.transport == transport
    assert outcomes(result) == {"OK": 20}
    assert tls_warnings(result) == []
    assert server.requests == 20


async def test_auto_takes_the_fast_path_for_https_with_keep_alive_and_alpn(pki: Pki, https: Serve) -> None:
    server = https(pki.server_context())
    result = await run(server.url, "auto", {"caFile": str(pki.ca_file)})
    assert result.generator.transport == "fast"
    assert outcomes(result) == {"OK": 20}
    # Kept alive: connections are opened once (warm-up plus a few under load), not one per request.
    assert result.generator.connections_opened < 20
    assert server.connections == result.generator.connections_opened + 1  # and the preflight's handshake
    assert set(server.alpn) == {"http/1.1"}  # offered h2 too: ALPN chose HTTP/1.1


async def test_new_fast_connections_resume_the_tls_session(pki: Pki, https: Serve) -> None:
    server = https(pki.server_context())
    result = await run(
        server.url,
        "fast",
        {"caFile": str(pki.ca_file)},
        type="concurrency",
        vus=2,
        rps=None,
        headers={"Connection": "close"},  # the server closes after each answer: a new connection each time
    )
    opened = result.generator.connections_opened
    assert opened == server.connections - 1  # the preflight's handshake is the server's too
    assert opened >= 10
    resumed = result.generator.tls_resumed
    assert resumed is not None
    # Only the first connections (before any session existed) run a full handshake.
    assert resumed >= opened - 4, (resumed, opened)


async def test_plain_http_reports_no_tls_figures(https: Serve) -> None:
    server = https(None)
    result = await run(server.url, "fast", {"caFile": "/not/read/for/http"})
    assert outcomes(result) == {"OK": 20}
    assert result.generator.tls_resumed is None


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_client_certificate_for_mutual_tls(pki: Pki, https: Serve, transport: str) -> None:
    server = https(pki.server_context(require_client_cert=True))
    client = {
        "caFile": str(pki.ca_file),
        "certFile": str(pki.path("client.crt")),
        "keyFile": str(pki.path("client.key")),
    }
    result = await run(server.url, transport, client)
    assert outcomes(result) == {"OK": 20}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_insecure_skips_verification_and_says_so(pki: Pki, https: Serve, transport: str) -> None:
    server = https(pki.server_context("self-signed"))
    result = await run(server.url, transport, {"insecureSkipVerify": True})
    assert outcomes(result) == {"OK": 20}
    assert tls_warnings(result) == [INSECURE]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_server_name_verifies_a_certificate_for_another_name(
    pki: Pki, https: Serve, transport: str
) -> None:
    server = https(pki.server_context("other-host"))
    result = await run(server.url, transport, {"caFile": str(pki.ca_file), "serverName": "other.test"})
    assert outcomes(result) == {"OK": 20}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_tls13_only_server_with_min_version_13(pki: Pki, https: Serve, transport: str) -> None:
    server = https(pki.server_context(minimum=ssl.TLSVersion.TLSv1_3))
    result = await run(server.url, transport, {"caFile": str(pki.ca_file), "minVersion": "1.3"})
    assert outcomes(result) == {"OK": 20}
    assert set(server.versions) == {"TLSv1.3"}


# -- what fails, and the words for it ----------------------------------------------------------------------
VERIFY = "certificate verify failed"
TLS12 = ssl.TLSVersion.TLSv1_2
# What a server offers (Pki.server_context arguments), the client's tls options ("CA": the test CA's file)
# and the reason a user reads, with the options that fix it.
REFUSALS: dict[str, tuple[dict[str, Any], dict[str, Any] | None, str]] = {
    "self-signed": ({"cert": "self-signed"}, None, f"{VERIFY}: self-signed certificate — {CA_FIX}"),
    "unknown CA": ({}, None, f"{VERIFY}: unable to get local issuer certificate — {CA_FIX}"),
    "wrong host": (
        {"cert": "other-host"},
        {"caFile": "CA"},
        f"{VERIFY}: IP address mismatch, certificate is not valid for '127.0.0.1' — "
        "set tls.serverName to a name the certificate lists, or pass --insecure",
    ),
    "expired": (
        {"cert": "expired"},
        {"caFile": "CA"},
        f"{VERIFY}: certificate has expired — renew the server's certificate, or pass --insecure",
    ),
    "TLS 1.3 minimum, TLS 1.2 server": (
        {"maximum": TLS12},
        {"caFile": "CA", "minVersion": "1.3"},
        "protocol mismatch: no TLS version both sides accept (tlsv1 alert protocol version) — "
        "set tls.minVersion to a version the server offers",
    ),
    "no client certificate (TLS 1.2)": (
        {"require_client_cert": True, "maximum": TLS12},
        {"caFile": "CA"},
        "client certificate rejected (sslv3 alert handshake failure) — "
        "set tls.certFile and tls.keyFile to a client certificate the server trusts",
    ),
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_refused_handshake_names_its_reason_and_fix(
    pki: Pki, https: Serve, transport: str, case: str
) -> None:
    offered, tls, expected = REFUSALS[case]
    server = https(pki.server_context(**offered))
    options = {k: str(pki.ca_file) if v == "CA" else v for k, v in tls.items()} if tls else None
    assert await refused(server.url, transport, options) == expected
    assert server.requests == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_https_to_a_plain_http_server_is_a_protocol_mismatch(https: Serve, transport: str) -> None:
    server = https(None)
    url = server.url.replace("http://", "https://")
    reason = await refused(url, transport)
    assert reason == (
        "protocol mismatch: the server did not answer in TLS (wrong version number) — "
        "use http:// if the server speaks plain HTTP"
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_missing_client_certificate_in_tls13_fails_the_requests(
    pki: Pki, https: Serve, transport: str
) -> None:
    # TLS 1.3 finishes the client's side of the handshake before the server checks the certificate, so the
    # refusal is an alert on the first read; a reset can overtake it (the server closes with the request
    # unread), so some requests end as resets.
    server = https(pki.server_context(require_client_cert=True))
    result = await run(server.url, transport, {"caFile": str(pki.ca_file)})
    counts = outcomes(result)
    assert set(counts) <= {"TLS", "RESET"}, counts
    assert sum(counts.values()) == 20
    refusals = counts.get("TLS", 0)
    reason = (
        "client certificate rejected (tlsv13 alert certificate required) — "
        "set tls.certFile and tls.keyFile to a client certificate the server trusts"
    )
    assert tls_warnings(result) == ([f"tls: {refusals} TLS handshakes failed: {reason}"] if refusals else [])


async def test_a_port_that_never_answers_the_handshake() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=64) as silent:  # accepts TCP, says nothing
        url = f"https://127.0.0.1:{silent.getsockname()[1]}"
        reason = await refused(url, "fast", {"insecureSkipVerify": True}, timeout="300ms")
    assert reason == "handshake timeout — check that the port serves TLS, or raise the test's timeout"


async def test_the_transport_counts_failed_handshakes_by_reason(pki: Pki, https: Serve) -> None:
    server = https(pki.server_context("expired"))
    profile = build_profile(spec({"caFile": str(pki.ca_file)}), base_url=server.url)
    transport = FastTransport()
    with pytest.raises(TargetUnreachableError):
        await run_load(profile, RunOptions(workers=0, transport=transport))
    # Every handshake is counted, the warm-up connections opened before the start included.
    assert list(transport.tls_failures) == ["certificate verify failed: certificate has expired"]
    assert transport.tls_failures["certificate verify failed: certificate has expired"] >= 20


def test_the_memory_cap_counts_what_a_tls_connection_holds() -> None:
    from sk_loadagent.engine._caps import TLS_CONNECTION_BYTES, memory_need

    test = spec(None, maxConnections=100)
    plain = memory_need(build_profile(test, base_url="http://127.0.0.1:9"), processes=1)
    tls = memory_need(build_profile(test, base_url="https://127.0.0.1:9"), processes=1)
    assert tls.connections - plain.connections == 100 * TLS_CONNECTION_BYTES
