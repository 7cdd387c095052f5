"""fast and httpx measure the same target the same way; the latency sweep sends each payload size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sk_loadagent.engine import Outcome, RunOptions, build_profile, run_load
from sk_loadagent.models.plan import TestSpec

Serve = Callable[..., object]


async def test_fast_and_httpx_give_identical_metrics(serve: Serve) -> None:
    test = TestSpec.model_validate({"type": "load", "rps": 100, "duration": "1500ms", "rampUp": "0s"})
    results = {}
    for transport in ("fast", "httpx"):
        server = serve(delay=0.003, statuses=[200, 200, 404, 500])  # a fresh status cycle for each
        profile = build_profile(test, base_url=server.url)  # type: ignore[attr-defined]
        results[transport] = await run_load(profile, RunOptions(workers=0, transport=transport))
    fast, slow = results["fast"], results["httpx"]
    assert fast.generator.transport == "fast"
    assert slow.generator.transport == "httpx"
    assert len(fast.samples) == len(slow.samples) == 150
    assert sorted(fast.samples.status.tolist()) == sorted(slow.samples.status.tolist())
    for outcome in (Outcome.OK, Outcome.HTTP_4XX, Outcome.HTTP_5XX):
        assert (fast.samples.outcome == outcome).sum() == (slow.samples.outcome == outcome).sum()
    assert [w.requests for w in fast.windows] == [w.requests for w in slow.windows]
    np.testing.assert_array_equal(fast.samples.start, slow.samples.start)  # the same intended schedule
    np.testing.assert_array_equal(fast.samples.bytes_out, slow.samples.bytes_out)
    p50 = {t: float(np.median(r.samples.latency)) for t, r in results.items()}
    # Latency differs only by client overhead (httpx costs far more CPU per request); 3 ms is generous
    # on a loaded 2-core CI machine and still catches a transport that mis-times requests.
    assert abs(p50["fast"] - p50["httpx"]) < 0.003, p50


async def test_latency_sweep_sends_each_payload_size_as_a_variant(serve: Serve) -> None:
    server = serve(delay=0.001)
    test = TestSpec.model_validate(
        {"type": "latency", "duration": "1500ms", "payloadSizes": [0, 1000, 20000]}
    )
    profile = build_profile(test, base_url=server.url)  # type: ignore[attr-defined]
    result = await run_load(profile, RunOptions(workers=0))
    s = result.samples
    assert result.variants == [0, 1000, 20000]
    assert [p.payload_bytes for p in result.phases] == [0, 1000, 20000]
    assert (s.outcome == Outcome.OK).all()
    assert [int((s.variant == v).sum()) for v in range(3)] == [10, 10, 10]  # 20 rps for 0.5 s each
    sent = [int(s.bytes_out[s.variant == v][0]) for v in range(3)]
    assert sent[1] - sent[0] == 1000 + len("Content-Length: 1000") - len("Content-Length: 0")
    assert sent[2] - sent[1] == 19000 + 1  # one more digit in Content-Length
    assert (np.diff(s.variant) >= 0).all()  # sizes in order, as the phases say
