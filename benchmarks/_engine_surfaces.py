"""`make bench` part "surfaces" (issue 10): how exactly the AMQP surface measures a queue consumer's lag.

A consumer process (pinned to CPU 0) reads the bench's input queue on the local RabbitMQ and answers on its
output queue with the correlation id copied; the engine (one worker process, pinned to CPU 1) publishes at
a fixed rate and times each message from its intended publish time to the answer. Three consumers, runs
interleaved, medians of the repetitions:

1. ``echo``: answers at once: the broker round trip of this run (publish, deliver, publish, deliver);
2. ``hold``: holds each message 20 ms from its delivery (a thread of the consumer's keeps the time, so its
   event loop never spins and reads every message when it comes): its lag p50 must be within 1 ms of 20 ms
   plus the echo's p50 measured in the same run;
3. ``freeze``: answers in 1 ms but not during the last second of every 5 s (counted from 0.5 s before the
   first message, as the HTTP freeze server does): p90 and p99 must be within 3 % of the closed form (the
   same ``due`` as the HTTP accuracy part), plus the echo's p50.

Run alone: ``.venv/bin/python benchmarks/engine_bench.py --only surfaces`` (RabbitMQ at 127.0.0.1:5672).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import math
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from _engine_servers import due

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
HOLD_S = 0.020
BATCH_S = 0.0001  # answers due this close together leave as one batch (a freeze's end)
P50_TOLERANCE_MS = 1.0
TAIL_TOLERANCE = 0.03
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
HERE = Path(__file__).resolve()


# -- the consumer (a child process) ------------------------------------------------------------------------
class _Releaser(threading.Thread):
    """Holds the consumer's answers until each one is due and hands them back to the event loop in batches.

    A hold timed inside the event loop cannot be exact without spinning it (asyncio's timers fire up to a
    millisecond late), and a spinning loop reads nothing: a message that arrived meanwhile would be
    stamped late, which is the consumer's error, not the engine's. This thread waits with the GIL
    released, on a timed condition (exact to about 0.1 ms), while the loop stays free to read.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, release: Callable[[list[tuple[float, str]]], None]
    ) -> None:
        super().__init__(daemon=True)
        self._loop = loop
        self._release = release
        self._due: list[tuple[float, int, str]] = []  # (until, arrival order, correlation id)
        self._order = 0
        self._wake = threading.Condition()

    def hold(self, until: float, correlation: str) -> None:
        with self._wake:
            heapq.heappush(self._due, (until, self._order, correlation))
            self._order += 1
            self._wake.notify()

    def run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.perf_counter():
                    # a timed wait on a lock is a futex with a deadline: it wakes within ~0.1 ms
                    self._wake.wait(self._due[0][0] - time.perf_counter() if self._due else None)
                until = self._due[0][0]
                ready = []
                while self._due and self._due[0][0] <= until + BATCH_S:
                    when, _, correlation = heapq.heappop(self._due)
                    ready.append((when, correlation))
            self._loop.call_soon_threadsafe(self._release, ready)


async def _consume(mode: str, inq: str, outq: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=10_000)
    queue = await channel.declare_queue(inq)
    await channel.declare_queue(outq)
    answers = await connection.channel(publisher_confirms=False)  # a burst goes out without waiting
    loop = asyncio.get_running_loop()
    origin: list[float] = []
    got_at: dict[str, float] = {}
    held: list[float] = []  # how long each message was really held, delivery to publish (seconds)
    sending: set[asyncio.Task[None]] = set()

    async def send(batch: list[tuple[float, str]]) -> None:
        for _, correlation in batch:
            held.append(time.perf_counter() - got_at.pop(correlation))
            await answers.default_exchange.publish(
                aio_pika.Message(b"done", correlation_id=correlation), routing_key=outq
            )

    def release(batch: list[tuple[float, str]]) -> None:
        task = loop.create_task(send(batch))
        sending.add(task)
        task.add_done_callback(sending.discard)

    releaser = _Releaser(loop, release)
    releaser.start()

    def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        got = time.perf_counter()
        correlation = str(message.correlation_id)
        got_at[correlation] = got
        if mode == "hold":
            releaser.hold(got + HOLD_S, correlation)
        elif mode == "freeze":
            if not origin:
                origin.append(got - 0.5)  # the first message arrives half a second into the cycle
            releaser.hold(origin[0] + due(got - origin[0]), correlation)
        else:
            release([(got, correlation)])

    await queue.consume(on_message, no_ack=True)  # type: ignore[arg-type]
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench closes stdin
    await connection.close()
    print(json.dumps({"held_p50_ms": statistics.median(held) * 1e3 if held else math.nan}), flush=True)


# -- the engine's run (a child process) --------------------------------------------------------------------
async def _drive(inq: str, outq: str, rate: int, seconds: int) -> dict[str, float]:
    from sk_loadagent.analysis.summary import summarize
    from sk_loadagent.engine import RunOptions, build_profile, run_load
    from sk_loadagent.models.plan import TestSpec

    test = TestSpec.model_validate(
        {
            "type": "load",
            "surface": "amqp",
            "rps": rate,
            "duration": f"{seconds}s",
            "rampUp": "0s",
            "timeout": "5s",
            "amqp": {
                "url": AMQP_URL,
                "publish": {"routingKey": inq, "body": "x"},
                "consume": {"queue": outq},
            },
        }
    )
    result = await run_load(build_profile(test, base_url="http://127.0.0.1:9"), RunOptions(workers=0))
    metrics = summarize(result)
    lag = metrics.latency
    ack = metrics.surface.time_to_ack if metrics.surface else None
    return {
        **{k: getattr(lag, k) for k, _ in QUANTILES},
        "ack_p50": ack.p50 if ack else math.nan,
        "errors": metrics.error_rate or 0.0,
        "late": float(result.generator.late_starts),
    }


# -- the bench section -------------------------------------------------------------------------------------
def truth(rate: int, seconds: int) -> dict[str, float]:
    """The freeze consumer's lag in closed form, from each message's intended publish time."""
    lat = sorted(due(0.5 + i / rate) - (0.5 + i / rate) for i in range(rate * seconds))
    return {k: lat[max(0, math.ceil(q * len(lat)) - 1)] * 1e3 for k, q in QUANTILES}


def _one(mode: str, rate: int, seconds: int, target_cpu: int, generator_cpu: str) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    inq, outq = f"bench.{tag}.in", f"bench.{tag}.out"
    consumer = subprocess.Popen(
        ["taskset", "-c", str(target_cpu), sys.executable, str(HERE), "consume", mode, inq, outq],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert consumer.stdout is not None
        if consumer.stdout.readline().strip() != "READY":
            raise RuntimeError(f"the {mode} consumer did not start")
        done = subprocess.run(
            [
                "taskset",
                "-c",
                generator_cpu,
                sys.executable,
                str(HERE),
                "drive",
                inq,
                outq,
                str(rate),
                str(seconds),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
        measured = dict(json.loads(done.stdout.strip().splitlines()[-1]))
        assert consumer.stdin is not None
        consumer.stdin.close()
        measured.update(json.loads(consumer.stdout.readline()))
        return measured
    finally:
        if consumer.stdin is not None and not consumer.stdin.closed:
            consumer.stdin.close()
        try:
            consumer.wait(10)
        except subprocess.TimeoutExpired:
            consumer.kill()
        asyncio.run(_delete(inq, outq))


async def _delete(*queues: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for name in queues:
            await channel.queue_delete(name)


def rabbitmq_listening() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=2):
            return True
    except OSError:
        return False


def surfaces_section(
    *,
    say: Callable[[str], None],
    table: Callable[..., str],
    target_cpu: int,
    generator_cpu: str,
    reps: int,
    seconds: int,
    freeze_seconds: int,
) -> dict[str, object]:
    """Run the section and print its tables; returns the medians."""
    rate = 100
    if not rabbitmq_listening():
        say("## 6. Surfaces: skipped: RabbitMQ is not listening at 127.0.0.1:5672")
        return {}
    say(
        f"## 6. Surfaces: AMQP lag accuracy, {rate} msg/s on the local RabbitMQ, consumer on CPU "
        f"{target_cpu}, engine on CPU {generator_cpu}; {reps} interleaved run(s)"
    )
    runs: dict[str, list[dict[str, float]]] = {"echo": [], "hold": [], "freeze": []}
    for _ in range(reps):
        runs["echo"].append(_one("echo", rate, seconds, target_cpu, generator_cpu))
        runs["hold"].append(_one("hold", rate, seconds, target_cpu, generator_cpu))
        runs["freeze"].append(_one("freeze", rate, freeze_seconds, target_cpu, generator_cpu))
    med = {mode: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for mode, rows in runs.items()}
    round_trip = med["echo"]["p50"]
    expected_hold = HOLD_S * 1e3 + round_trip
    hold_off = med["hold"]["p50"] - expected_hold
    really_held = med["hold"]["held_p50_ms"]
    measured_off = med["hold"]["p50"] - (really_held + round_trip)
    say(
        table(
            [
                "consumer",
                "lag p50 ms",
                "p90 ms",
                "p99 ms",
                "held p50 ms",
                "time-to-ack p50 ms",
                "late starts",
            ],
            [
                [
                    m,
                    *(f"{med[m][k]:.2f}" for k, _ in QUANTILES),
                    f"{med[m]['held_p50_ms']:.2f}",
                    f"{med[m]['ack_p50']:.3f}",
                    f"{med[m]['late']:g}",
                ]
                for m in runs
            ],
        )
    )
    say(
        f"hold: p50 {med['hold']['p50']:.2f} ms against 20 ms + the broker round trip {round_trip:.2f} ms = "
        f"{expected_hold:.2f} ms: off by {hold_off:+.2f} ms (target within ±{P50_TOLERANCE_MS:g} ms): "
        f"{'met' if abs(hold_off) <= P50_TOLERANCE_MS else 'NOT met'}"
    )
    say(
        f"hold, as the consumer itself timed it: p50 {really_held:.2f} ms held; the engine's p50 is "
        f"{measured_off:+.2f} ms off that plus the round trip (what the machine added beside the consumer)"
    )
    closed = truth(rate, freeze_seconds)
    rows = []
    verdicts = []
    for key in ("p90", "p99"):
        expected = closed[key] + round_trip
        off = med["freeze"][key] / expected - 1
        verdicts.append(abs(off) <= TAIL_TOLERANCE)
        rows.append(
            [key, f"{closed[key]:.1f}", f"{expected:.1f}", f"{med['freeze'][key]:.1f}", f"{off:+.1%}"]
        )
    say(table(["freeze", "closed form ms", "+ round trip ms", "measured ms", "off"], rows))
    say(
        f"freeze: p90 and p99 within {TAIL_TOLERANCE:.0%} of the closed form: "
        f"{'met' if all(verdicts) else 'NOT met'}"
    )
    say("")
    return {"medians": med, "holdOffMs": hold_off}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="role", required=True)
    consume = sub.add_parser("consume")
    consume.add_argument("mode", choices=("echo", "hold", "freeze"))
    consume.add_argument("inq")
    consume.add_argument("outq")
    drive = sub.add_parser("drive")
    drive.add_argument("inq")
    drive.add_argument("outq")
    drive.add_argument("rate", type=int)
    drive.add_argument("seconds", type=int)
    args = parser.parse_args(argv)
    if args.role == "consume":
        asyncio.run(_consume(args.mode, args.inq, args.outq))
        return 0
    print(json.dumps(asyncio.run(_drive(args.inq, args.outq, args.rate, args.seconds))))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    sys.exit(main(sys.argv[1:]))
