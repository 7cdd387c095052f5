"""Merging what the workers measured into one RunResult: exact concatenation of samples, windows added up."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sk_loadagent.engine._messages import WorkerOutput
from sk_loadagent.engine._profile import LoadProfile
from sk_loadagent.engine._recorder import PhaseTally
from sk_loadagent.engine._tls import describe_failures
from sk_loadagent.engine.result import GeneratorReport, Phase, Samples, StepMeasurements, StepTally, Window


@dataclass(frozen=True)
class RunFacts:
    """What the parent knows about the run besides the workers' outputs."""

    late_threshold: float
    window_seconds: float
    timeout: float  # requests still unanswered this long after the schedule ended were cut
    max_connections: int
    workers: int
    duration: float
    tls: bool = False  # the target is https://


def merge_windows(outputs: Sequence[WorkerOutput], window_seconds: float, duration: float) -> list[Window]:
    """Windows of every worker added up, one per window from t0 to the end (empty ones included)."""
    merged: dict[int, Window] = {}
    for output in outputs:
        for window in output.windows:
            index = round(window.start / window_seconds)
            into = merged.get(index)
            if into is None:
                into = merged[index] = Window(start=index * window_seconds)
            into.requests += window.requests
            for outcome, count in window.outcomes.items():
                into.outcomes[outcome] = into.outcomes.get(outcome, 0) + count
            into.latency.merge(window.latency)
            into.service.merge(window.service)
            into.bytes_in += window.bytes_in
            into.bytes_out += window.bytes_out
            # Workers peak at different moments: the sum of their peaks bounds the merged peak from above.
            into.max_in_flight += window.max_in_flight
    last = max([math.ceil(duration / window_seconds - 1e-9) - 1, *merged.keys()], default=-1)
    return [merged.get(i) or Window(start=i * window_seconds) for i in range(last + 1)]


def merge_tallies(outputs: Sequence[WorkerOutput]) -> list[PhaseTally]:
    merged = [PhaseTally() for _ in outputs[0].tallies]
    for output in outputs:
        for into, tally in zip(merged, output.tallies, strict=True):
            into.requests += tally.requests
            into.errors += tally.errors
            into.late += tally.late
            into.dropped += tally.dropped
            into.responses += tally.responses
            into.latency.merge(tally.latency)
            for outcome, count in tally.outcomes.items():
                into.outcomes[outcome] = into.outcomes.get(outcome, 0) + count
    return merged


def merged_samples(outputs: Sequence[WorkerOutput]) -> tuple[Samples, bool]:
    """All raw samples when every worker stayed within its budget; otherwise none (windows only)."""
    if all(o.complete for o in outputs):
        return Samples.concat([o.samples for o in outputs]), True
    return Samples.empty(), False


def generator_report(
    outputs: Sequence[WorkerOutput],
    tallies: Sequence[PhaseTally],
    phases: Sequence[Phase],
    windows: Sequence[Window],
    facts: RunFacts,
) -> GeneratorReport:
    """The generator's cost and shortfalls over the measured phases."""
    measured = [i for i, p in enumerate(phases) if p.measured]
    return GeneratorReport(
        requests=sum(tallies[i].requests for i in measured),
        cpu_seconds=sum(o.cpu_by_phase[i] for o in outputs for i in measured),
        wall_seconds=sum(phases[i].end - phases[i].start for i in measured),
        late_starts=sum(tallies[i].late for i in measured),
        dropped=sum(tallies[i].dropped for i in measured),
        workers=facts.workers,
        transport=outputs[0].transport,
        max_in_flight=max((w.max_in_flight for w in windows), default=0),
        connections_opened=sum(o.connections_opened for o in outputs),
        late_threshold_s=facts.late_threshold,
        tls_resumed=sum(o.tls_resumed for o in outputs) if facts.tls else None,
    )


def tls_failures(outputs: Sequence[WorkerOutput]) -> Counter[str]:
    """Failed TLS handshakes of every worker, by reason."""
    merged: Counter[str] = Counter()
    for output in outputs:
        merged.update(output.tls_failures)
    return merged


def tls_warnings(outputs: Sequence[WorkerOutput], insecure: bool) -> list[str]:
    """What a reader of the artifacts must know about TLS: verification was off, or handshakes failed."""
    warnings = []
    if insecure:
        warnings.append(
            "tls: certificate verification was skipped (insecureSkipVerify / --insecure): the target's "
            "identity was not checked"
        )
    failures = tls_failures(outputs)
    if failures:
        warnings.append(f"tls: {sum(failures.values())} TLS handshakes failed: {describe_failures(failures)}")
    return warnings


def shortfall_warnings(
    outputs: Sequence[WorkerOutput], tallies: Sequence[PhaseTally], facts: RunFacts
) -> list[str]:
    """Say so whenever the generator did not deliver what the plan asked for."""
    warnings: list[str] = []
    requests = sum(t.requests for t in tallies)
    late = sum(t.late for t in tallies)
    dropped = sum(t.dropped for t in tallies)
    cut = sum(o.cut_at_end for o in outputs)
    if requests and late / requests > 0.01:
        warnings.append(
            f"{late} of {requests} requests ({late / requests * 100:.1f} %) started more than "
            f"{facts.late_threshold * 1000:g} ms after their intended time: the generator could not keep the "
            f"schedule (saturated, or maxConnections {facts.max_connections} too low); their latency still "
            "counts from the intended start"
        )
    if dropped:
        warnings.append(
            f"{dropped} scheduled requests were never sent (the connection queue was full, or they were "
            "still queued when the run ended): the offered load fell short of the plan"
        )
    if cut:
        warnings.append(
            f"{cut} requests were still unanswered {facts.timeout:g}s after the schedule ended and "
            "count as timeouts"
        )
    for output in outputs:
        warnings += output.warnings
    return warnings


def merged_steps(profile: LoadProfile, outputs: Sequence[WorkerOutput]) -> list[StepMeasurements]:
    """A flow's steps over every worker: tallies added up, raw samples joined while every worker kept them."""
    flow = profile.flow
    if flow is None:
        return []
    complete = all(o.step_complete and o.step_samples is not None for o in outputs)
    joined = (
        Samples.concat([o.step_samples for o in outputs if o.step_samples is not None]) if complete else None
    )
    steps = []
    for index, spec in enumerate(flow.steps):
        phases = [StepTally() for _ in profile.phases]
        for output in outputs:
            for into, tally in zip(phases, output.step_tallies[index], strict=True):
                into.merge(tally)
        samples = joined.select(joined.variant == index) if joined is not None else Samples.empty()
        # A flow with a step on a built-in surface runs in one worker: its hub measured all of it.
        surface = next((o.step_surfaces[index] for o in outputs if index in o.step_surfaces), None)
        name = spec.name or f"step-{index + 1}"
        steps.append(StepMeasurements(name, flow.targets[index], samples, phases, surface))
    return steps


def client_warnings(outputs: Sequence[WorkerOutput]) -> list[str]:
    """What users' clients raised that the engine could not classify, most frequent first."""
    merged: Counter[str] = Counter()
    for output in outputs:
        merged.update(output.client_errors)
    return [
        f"{count} step calls failed with an error of the client itself (clientError): {message}"
        for message, count in merged.most_common(5)
    ]
