"""check_target: loopback always, anything else only when allow-listed; the refusal says how to allow it.

Names are resolved by a fake resolver here, so the results do not depend on this machine's /etc/hosts."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from sk_loadagent.engine import RunOptions, build_profile, check_target, is_loopback, run_load
from sk_loadagent.errors import InputError, TargetNotAllowedError
from sk_loadagent.models.plan import TestSpec

# What the fake resolver knows; any other name does not resolve.
NAMES = {
    "app.test": ["127.0.0.1", "::1"],  # an /etc/hosts alias of loopback
    "wide.test": ["127.0.0.1", "10.0.0.7"],  # loopback and a LAN address
    "lan.test": ["10.0.0.7"],
}


@pytest.fixture(autouse=True)
def resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in NAMES:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, 1, 6, "", (a, 0)) for a in NAMES[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.2", True),
        ("localhost", True),
        ("localhost.", True),
        ("LocalHost.", True),
        ("app.test", True),
        ("wide.test", False),
        ("lan.test", False),
        ("nowhere.test", False),
        ("0.0.0.0", False),
        ("10.0.0.7", False),
        ("", False),
    ],
)
def test_the_loopback_rule(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://127.8.9.10/",
        "http://[::1]:9000/",
        "http://localhost:8080",
        "http://LOCALHOST:8080",
        "https://localhost./",
        "http://[::ffff:127.0.0.1]:80/",
        "http://app.test:8080/",
    ],
)
def test_loopback_is_always_allowed(url: str) -> None:
    check_target(url, [])


def test_non_loopback_is_refused_with_a_message_that_says_how_to_allow_it() -> None:
    with pytest.raises(TargetNotAllowedError) as err:
        check_target("http://10.0.0.5:8080", [])
    assert isinstance(err.value, InputError)
    assert err.value.exit_code == 2
    assert str(err.value) == (
        "target http://10.0.0.5:8080: host: expected a loopback host (127.0.0.1, ::1, localhost), "
        "got 10.0.0.5; to load a non-loopback host, list it under allowHosts in the plan or pass "
        "--allow-host 10.0.0.5"
    )


@pytest.mark.parametrize(
    ("url", "allow", "ok"),
    [
        ("http://10.0.0.5:8080", ["10.0.0.5"], True),
        ("http://api.example.com/", ["api.example.com"], True),
        ("http://API.Example.com/", ["api.example.com"], True),
        ("http://a.b.example.com/", ["*.example.com"], True),
        ("http://example.com/", ["*.example.com"], False),
        ("http://badexample.com/", ["*.example.com"], False),
        ("http://example.com.evil.net/", ["example.com"], False),
        ("http://[2001:db8::1]:80/", ["2001:db8::1"], True),
        ("http://[2001:db8::1]:80/", [], False),
        ("http://myhost.localhost/", [], False),  # does not resolve here, and is not the name localhost
        ("http://wide.test/", [], False),  # one of its addresses is not loopback
        ("http://lan.test/", ["lan.test"], True),
        ("http://0.0.0.0:80/", [], False),
    ],
)
def test_allow_hosts_exact_and_suffix_patterns(url: str, allow: list[str], ok: bool) -> None:
    if ok:
        check_target(url, allow)
    else:
        with pytest.raises(TargetNotAllowedError):
            check_target(url, allow)


def test_ipv6_refusal_brackets_the_suggested_flag() -> None:
    with pytest.raises(TargetNotAllowedError, match=r"--allow-host \[2001:db8::1\]"):
        check_target("http://[2001:db8::1]:80/", [])


async def test_run_load_refuses_before_sending_anything() -> None:
    test = TestSpec.model_validate({"type": "load", "rps": 5, "duration": "1s"})
    profile = build_profile(test, base_url="http://192.0.2.10:8080")  # TEST-NET-1: nothing may go there
    with pytest.raises(TargetNotAllowedError):
        await run_load(profile, RunOptions(workers=0))


@pytest.mark.parametrize(
    ("knobs", "field"),
    [
        ({"workers": -1}, "workers"),
        ({"window_seconds": 0}, "windowSeconds"),
        ({"late_threshold_s": float("nan")}, "lateThreshold"),
        ({"progress_interval": 0.01}, "progressInterval"),
        ({"transport": "h3"}, "transport"),
        ({"allow_hosts": "example.com"}, "allowHosts"),
    ],
)
def test_bad_run_options_name_the_field(knobs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as err:
        RunOptions(**knobs)  # type: ignore[arg-type]
    assert err.value.problems[0].field == field
