"""Where the dashboard listens: loopback unless a host is named, a free port for 0, the URL it prints."""

from __future__ import annotations

import socket

import pytest

from sk_loadagent.dashboard._serve import bind, url_of


def test_without_a_host_it_listens_on_loopback_only() -> None:
    with bind(None, 0) as sock:
        host, port = sock.getsockname()[:2]

        assert host == "127.0.0.1"
        assert port > 0
        assert url_of(sock) == f"http://127.0.0.1:{port}/"


def test_a_named_ipv6_host_gets_a_bracketed_url() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        sock = bind("::1", 0)
    except Exception as exc:  # an IPv6 stack without ::1 configured
        pytest.skip(f"::1 cannot be bound here: {exc}")
    with sock:
        assert url_of(sock) == f"http://[::1]:{sock.getsockname()[1]}/"
