"""Proxies on the httpx path: the plan's ``proxy``, and HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the
environment, against a loopback CONNECT and forward proxy (tls_support.LoopbackProxy) that sends everything
to 127.0.0.1 whatever host a request names. The allow-list still applies to the target and to the proxy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tls_support import HttpsServer, LoopbackProxy, Pki

from sk_loadagent.engine import Outcome, RunOptions, RunResult, build_profile, run_load
from sk_loadagent.errors import InputError, TargetNotAllowedError
from sk_loadagent.models.plan import TestSpec

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PROXY_VARIABLES, "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def proxy() -> Iterator[LoopbackProxy]:
    started = LoopbackProxy()
    yield started
    started.stop()


@pytest.fixture
def server(pki: Pki) -> Iterator[HttpsServer]:
    """An HTTPS server whose certificate names service.test (reached through the proxy by that name)."""
    started = HttpsServer(pki.server_context("named"))
    yield started
    started.stop()


def spec(**tls: Any) -> TestSpec:
    test: dict[str, Any] = {"type": "load", "rps": 20, "duration": "500ms", "rampUp": "0s", "timeout": "2s"}
    if tls:
        test["tls"] = tls
    return TestSpec.model_validate(test)


async def run(url: str, proxy: str | None = None, allow: tuple[str, ...] = (), **tls: Any) -> RunResult:
    profile = build_profile(spec(**tls), base_url=url, proxy=proxy)
    return await run_load(profile, RunOptions(workers=0, allow_hosts=allow))


def all_ok(result: RunResult, n: int = 10) -> bool:
    return len(result.samples) == n and bool((result.samples.outcome == Outcome.OK).all())


async def test_the_plans_proxy_forwards_plain_http(proxy: LoopbackProxy) -> None:
    target = HttpsServer(None)
    try:
        result = await run(target.url + "/orders", proxy=proxy.url)
    finally:
        target.stop()
    assert result.generator.transport == "httpx"
    assert all_ok(result)
    assert set(proxy.targets) == {f"{target.url}/orders"}  # absolute-form requests: a forward proxy
    assert len(proxy.targets) == 10
    assert result.extra["profile"].endswith(f"; through the proxy {proxy.url}")


async def test_the_plans_proxy_tunnels_https(pki: Pki, proxy: LoopbackProxy, server: HttpsServer) -> None:
    url = f"https://service.test:{server.port}"
    result = await run(url, proxy=proxy.url, allow=("service.test",), caFile=str(pki.ca_file))
    assert all_ok(result)
    assert set(proxy.targets) == {f"service.test:{server.port}"}  # CONNECT tunnels, one per connection
    assert server.requests == 10


async def test_https_proxy_from_the_environment(
    pki: Pki, proxy: LoopbackProxy, server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    url = f"https://service.test:{server.port}"
    result = await run(url, allow=("service.test",), caFile=str(pki.ca_file))
    assert result.generator.transport == "httpx"  # auto: a proxy is httpx's
    assert all_ok(result)
    assert set(proxy.targets) == {f"service.test:{server.port}"}


async def test_a_proxy_does_not_widen_the_allow_list(
    pki: Pki, proxy: LoopbackProxy, server: HttpsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    with pytest.raises(TargetNotAllowedError) as caught:
        await run(f"https://service.test:{server.port}", caFile=str(pki.ca_file))
    assert str(caught.value) == (
        f"target https://service.test:{server.port}: host: expected a loopback host (127.0.0.1, ::1, "
        "localhost), got service.test; to load a non-loopback host, list it under allowHosts in the plan or "
        "pass --allow-host service.test"
    )
    assert proxy.targets == []


async def test_a_non_loopback_proxy_must_be_allowed_too() -> None:
    with pytest.raises(TargetNotAllowedError) as caught:
        await run("http://127.0.0.1:9/", proxy="http://proxy.example:3128")
    assert str(caught.value) == (
        "proxy http://proxy.example:3128: host: expected a loopback host (127.0.0.1, ::1, localhost), got "
        "proxy.example; to send load through a non-loopback proxy, list it under allowHosts or "
        "--allow-host proxy.example"
    )


async def test_environment_proxies_are_not_for_loopback_targets(
    proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    target = HttpsServer(None)
    try:
        result = await run(target.url)
    finally:
        target.stop()
    assert result.generator.transport == "fast"
    assert all_ok(result)
    assert proxy.targets == []


def test_no_proxy_and_the_variables_each_scheme_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3129")
    assert build_profile(spec(), base_url="https://api.test").proxy == "http://127.0.0.1:3128"
    assert build_profile(spec(), base_url="http://api.test").proxy == "http://127.0.0.1:3129"
    assert build_profile(spec(), base_url="http://api.test", proxy="http://127.0.0.1:1").proxy == (
        "http://127.0.0.1:1"  # the plan's proxy wins
    )
    monkeypatch.setenv("NO_PROXY", "other.test,api.test")
    assert build_profile(spec(), base_url="https://api.test").proxy is None


def test_an_environment_proxy_shows_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://load:s3cret@127.0.0.1:3128")
    profile = build_profile(spec(), base_url="https://api.test")
    assert profile.proxy == "http://load:s3cret@127.0.0.1:3128"  # used, never shown
    assert profile.describe().endswith("; through the proxy http://load:***@127.0.0.1:3128")
    assert "s3cret" not in profile.describe()


def test_an_environment_proxy_that_httpx_cannot_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(InputError) as caught:
        build_profile(spec(), base_url="https://api.test")
    assert str(caught.value) == (
        "environment: HTTPS_PROXY: expected an http:// or https:// proxy URL such as http://127.0.0.1:3128, "
        "got socks5://127.0.0.1:1080"
    )
