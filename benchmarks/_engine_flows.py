"""`make bench` part "flow" (issue 9): what a flow step costs the generator, and the iteration rate one worker
holds. The flow is a 3-step one as users write them: a value extracted from the first answer (a regex on the
body), sent on in a header by the others, every status checked; the target is the bundled fast server on
CPU 0, the generator runs in one process on CPU 1.

1. CPU per step against CPU per single request (target: a step costs at most 1.5 × a request), compared two
   ways: at equal open-model call rates (iterations at a third of the single requests' rate), which is how
   a flow runs; and at saturation, 50 VUs back to back, where the single request is the engine's cheapest
   path (prebuilt bytes) and a step also renders its request, checks its reply and extracts. Both run on
   callbacks (a flow of HTTP steps on the fast client has no task per step: ``engine/_flow_fast.py``).
2. Iteration rate held: the same flow on the open model with one worker process, at rising iteration rates
   while the rate holds (every iteration started, under 1 % late, none dropped; a run that fails does not
   hold).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from _engine_procs import run_tool
from _engine_targets import Target, start_bundled

STEPS = 3
VUS = 50
EQUAL_RATES = (3_000, 9_000)  # single requests per second; the flow runs a third as many iterations
MAX_RATIO = 1.5
LATE_SHARE = 0.01


def flow_section(
    *,
    engine_cmd: Callable[..., list[str]],
    engine_json: Callable[..., dict[str, object]],
    say: Callable[[str], None],
    target_cpu: int,
    generator_cpu: str,
    seconds: int,
    reps: int,
    hold_rates: tuple[int, ...],
    hold_seconds: int,
) -> dict[str, object]:
    target: Target = start_bundled("fast", target_cpu)
    try:
        say(
            f"## 5. Flows: a {STEPS}-step flow beside single requests against the bundled fast server "
            f"(CPU {target_cpu}), generator on CPU {generator_cpu}, {reps} interleaved run(s) of {seconds} s"
        )

        def cost(steps: int, **load: int) -> float:
            cmd = engine_cmd(target.url, seconds, **load)
            if steps:
                cmd += ["--flow-steps", str(steps)]
            block = engine_json(run_tool(cmd, cpus=generator_cpu, limit_seconds=seconds + 60))
            calls = int(block["stepCalls"] if steps else block["requests"])  # type: ignore[call-overload]
            return float(block["cpuSeconds"]) / max(1, calls) * 1e6  # type: ignore[arg-type]

        ratios: dict[str, float] = {}
        for label, single_load, flow_load in [
            *[(f"{rate:,} calls/s", {"rps": rate}, {"rps": rate // STEPS}) for rate in EQUAL_RATES],
            (f"saturation, {VUS} VUs", {"vus": VUS}, {"vus": VUS}),
        ]:
            single, per_step = [], []
            for _ in range(reps):
                single.append(cost(0, **single_load))
                per_step.append(cost(STEPS, **flow_load))
            ratio = statistics.median(per_step) / statistics.median(single)
            ratios[label] = ratio
            verdict = "met" if ratio <= MAX_RATIO else "NOT met"
            say(
                f"  {label:<22} single request {statistics.median(single):6.1f} µs, flow step "
                f"{statistics.median(per_step):6.1f} µs of generator CPU: {ratio:.2f}× "
                f"(target ≤ {MAX_RATIO:g}×: {verdict})"
            )
        held_rates = []
        for rate in hold_rates:
            cmd = [*engine_cmd(target.url, hold_seconds, rps=rate, workers=1), "--flow-steps", str(STEPS)]
            try:
                block = engine_json(run_tool(cmd, cpus=generator_cpu, limit_seconds=hold_seconds + 60))
            except ValueError as exc:  # the run failed (a hung worker, say): that rate is not held
                why = str(exc).split(":")[0]
                say(f"  {rate:,} iterations/s ({rate * STEPS:,} steps/s): {why} → does NOT hold")
                break
            iterations = int(block["requests"])  # type: ignore[call-overload]
            late = int(block["lateStarts"])  # type: ignore[call-overload]
            dropped = int(block["dropped"])  # type: ignore[call-overload]
            held = (
                iterations >= rate * hold_seconds * 0.999 and late < LATE_SHARE * iterations and dropped == 0
            )
            say(
                f"  {rate:,} iterations/s ({rate * STEPS:,} steps/s) for {hold_seconds} s, one worker: "
                f"{iterations:,} of {rate * hold_seconds:,} started, {late:,} late "
                f"({late / max(1, iterations) * 100:.2f} %), {dropped:,} dropped → "
                f"{'holds' if held else 'does NOT hold'}"
            )
            if not held:
                break
            held_rates.append(rate)
        say(
            f"iteration rate held by one worker: {max(held_rates, default=0):,} iterations/s of {STEPS} steps"
        )
        say("")
        return {"ratios": ratios, "held": max(held_rates, default=0)}
    finally:
        target.stop()
