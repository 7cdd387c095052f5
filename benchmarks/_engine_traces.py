"""`make bench` part "trace" (issue 11): what W3C trace context costs the generator.

At 10,000 requests per second on the open model (one process on CPU 1, the bundled fast server on CPU 0),
the same run without trace context and with it at the default sampling (one request in 20 gets fresh ids
spliced into its prebuilt bytes and its trace id recorded; the others carry the run's unsampled
traceparent, tracestate and baggage in the prebuilt bytes). Generator CPU per request of each, interleaved,
medians of the repetitions; target: with tracing at most 1.10 × without.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from _engine_procs import run_tool
from _engine_targets import Target, start_bundled

RATE = 10_000
SAMPLING = 0.05
MAX_RATIO = 1.10


def trace_section(
    *,
    engine_cmd: Callable[..., list[str]],
    engine_json: Callable[..., dict[str, object]],
    say: Callable[[str], None],
    target_cpu: int,
    generator_cpu: str,
    seconds: int,
    reps: int,
    rate: int = RATE,
) -> dict[str, float]:
    target: Target = start_bundled("fast", target_cpu)
    try:
        say(
            f"## 7. Trace context: {rate:,} rps open model, without and with traceparent (sampling "
            f"{SAMPLING:g}), bundled fast server on CPU {target_cpu}, generator on CPU {generator_cpu}, "
            f"{reps} interleaved run(s) of {seconds} s"
        )

        def cost(sampling: float | None) -> tuple[float, int]:
            cmd = engine_cmd(target.url, seconds, rps=rate)
            if sampling is not None:
                cmd += ["--trace-sampling", str(sampling)]
            block = engine_json(run_tool(cmd, cpus=generator_cpu, limit_seconds=seconds + 60))
            requests = max(1, int(block["requests"]))  # type: ignore[call-overload]
            return float(block["cpuSeconds"]) / requests * 1e6, int(block.get("traced", 0))  # type: ignore[call-overload]

        plain, traced, sampled = [], [], []
        for _ in range(reps):
            plain.append(cost(None)[0])
            with_trace, count = cost(SAMPLING)
            traced.append(with_trace)
            sampled.append(count)
        ratio = statistics.median(traced) / statistics.median(plain)
        verdict = "met" if ratio <= MAX_RATIO else "NOT met"
        say(
            f"  without trace context {statistics.median(plain):6.2f} µs, with it "
            f"{statistics.median(traced):6.2f} µs of generator CPU per request: {ratio:.3f}× "
            f"(target ≤ {MAX_RATIO:.2f}×: {verdict}); sampled requests recorded per run: "
            f"{', '.join(f'{n:,}' for n in sampled)}"
        )
        return {"ratio": ratio, "plainUs": statistics.median(plain), "tracedUs": statistics.median(traced)}
    finally:
        target.stop()
