"""W3C trace context on requests: every request carries a traceparent, one in ``every`` is sampled with fresh
ids, and the sampled requests' trace ids come back with their latency."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sk_loadagent.engine import RunOptions, build_profile, run_load
from sk_loadagent.engine._trace import TraceContext
from sk_loadagent.models.plan import TestSpec

_PARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])")


class _Seen(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    headers_seen: list[dict[str, str]]

    def do_GET(self) -> None:
        type(self).headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Seen,), {"headers_seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("transport", ["fast", "httpx"])
async def test_every_request_carries_a_traceparent_and_one_in_ten_is_sampled(
    recording_server: tuple[str, list[dict[str, str]]], transport: str
) -> None:
    url, seen = recording_server
    test = TestSpec.model_validate({"type": "load", "rps": 100, "duration": "1s", "rampUp": "0s"})
    trace = TraceContext.for_test(0.1, "proj-888-checkout", "load /")
    profile = build_profile(test, base_url=url).model_copy(update={"trace": trace})
    result = await run_load(profile, RunOptions(workers=0, transport=transport))  # type: ignore[arg-type]
    assert len(seen) == 100
    parents = [_PARENT.fullmatch(h["traceparent"]) for h in seen]
    assert all(parents)
    sampled = [m for m in parents if m is not None and m.group(3) == "01"]
    unsampled = {m.group(1) for m in parents if m is not None and m.group(3) == "00"}
    assert len(sampled) == 10
    assert unsampled == {trace.run_trace}
    assert len({m.group(1) for m in sampled}) == 10  # fresh ids per sampled request
    assert seen[0]["baggage"] == "sk.traceId=proj-888-checkout,sk.test=load%20%2F"
    assert seen[0]["tracestate"] == "skload=proj-888-checkout"
    assert sorted(t for t, _, _ in result.traced) == sorted(m.group(1) for m in sampled)
    starts = [start for _, start, _ in result.traced]
    assert starts == sorted(starts)
    assert all(0 < latency < 1 for _, _, latency in result.traced)


async def test_a_plans_own_traceparent_wins(recording_server: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = recording_server
    own = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    test = TestSpec.model_validate(
        {"type": "load", "rps": 20, "duration": "500ms", "rampUp": "0s", "headers": {"Traceparent": own}}
    )
    trace = TraceContext.for_test(1.0, "t", "load")
    profile = build_profile(test, base_url=url).model_copy(update={"trace": trace})
    result = await run_load(profile, RunOptions(workers=0))
    assert {h["traceparent"] for h in seen} == {own}
    assert result.traced == []


def test_sampling_share_is_kept_by_counter() -> None:
    assert TraceContext.for_test(0.05, "t", "x").every == 20
    assert TraceContext.for_test(1, "t", "x").every == 1
    assert TraceContext.for_test(0, "t", "x").every == 0


@pytest.mark.parametrize("transport", ["fast", "httpx"])
async def test_flow_steps_carry_it_and_a_sampled_iteration_shares_one_trace(
    recording_server: tuple[str, list[dict[str, str]]], transport: str
) -> None:
    url, seen = recording_server
    flow = {
        "name": "trace-flow",
        "type": "load",
        "rps": 20,
        "duration": "1s",
        "rampUp": "0s",
        "flow": [
            {"name": "first", "request": {"method": "GET", "path": "/a"}, "check": {"status": 200}},
            {"name": "second", "request": {"method": "GET", "path": "/b"}, "check": {"status": 200}},
        ],
    }
    test = TestSpec.model_validate(flow)
    trace = TraceContext.for_test(0.25, "t", "flow")
    profile = build_profile(test, base_url=url).model_copy(update={"trace": trace})
    result = await run_load(profile, RunOptions(workers=0, transport=transport))  # type: ignore[arg-type]
    assert len(seen) == 40
    parents = [_PARENT.fullmatch(h["traceparent"]) for h in seen]
    sampled = [m for m in parents if m is not None and m.group(3) == "01"]
    assert len(sampled) == 10  # 5 of 20 iterations, both steps
    by_trace: dict[str, set[str]] = {}
    for m in sampled:
        by_trace.setdefault(m.group(1), set()).add(m.group(2))
    assert len(by_trace) == 5
    assert all(len(spans) == 2 for spans in by_trace.values())  # a span id per step
    assert {h["baggage"].rsplit(",", 1)[1] for h in seen} == {"sk.step=first", "sk.step=second"}
    assert sorted(t for t, _, _ in result.traced) == sorted(by_trace)
