"""One bridged run: check the target, run the tool within the bound, read its raw results."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sk_loadagent.bridge import _k6, _locust
from sk_loadagent.bridge._process import Finished, run_bounded
from sk_loadagent.bridge._results import WINDOW_S, run_result, windows_of
from sk_loadagent.bridge._tools import executable
from sk_loadagent.engine import check_target
from sk_loadagent.errors import InputError, TargetUnreachableError
from sk_loadagent.measurements import GeneratorReport, Outcome, RunResult, Samples

STARTUP_GRACE_S = 5.0  # the tool's own start-up, on top of the test's duration, before it is stopped
STOP_GRACE_S = 5.0  # from the stop signal (SIGINT: both tools then write their results) to SIGKILL
_DEFAULT_BUDGET = 2_000_000
_NO_ANSWER = {int(Outcome.CONNECT_REFUSED), int(Outcome.CONNECT_ERROR)}


@dataclass(frozen=True)
class BridgeRun:
    """What to run: ``runner``'s ``script`` against ``base_url`` for at most ``duration`` seconds (plus
    ``STARTUP_GRACE_S``); ``users`` is Locust's user count (a k6 script sets its own VUs)."""

    runner: Literal["k6", "locust"]
    script: Path
    base_url: str
    duration: float
    allow_hosts: Sequence[str] = ()
    users: int = 1
    sample_budget: int = _DEFAULT_BUDGET
    startup_grace: float = STARTUP_GRACE_S

    @property
    def bound_s(self) -> float:
        return self.duration + self.startup_grace


async def run_script(run: BridgeRun) -> RunResult:
    """Run the tool and return its results as the engine's ``RunResult``.

    Raises TargetNotAllowedError before starting it for a target neither loopback nor allowed; InputError
    (exit 2) with the tool's own error line when the script did not run; TargetUnreachableError (exit 3)
    when no request reached the target.
    """
    check_target(run.base_url, run.allow_hosts)
    binary = executable(run.runner, run.runner, run.runner)
    with tempfile.TemporaryDirectory(prefix=f"sk-loadagent-{run.runner}-") as scratch:
        folder = Path(scratch)
        if run.runner == "k6":
            return await _run_k6(run, binary, folder)
        return await _run_locust(run, binary, folder)


async def _run_k6(run: BridgeRun, binary: str, folder: Path) -> RunResult:
    blocked, warning = _k6.blocked_ranges(run.allow_hosts)
    out_file = folder / "points.json"
    finished = await _launch(run, _k6.command(binary, run.script, out_file, run.base_url, blocked), folder)
    points = _k6.K6Points()
    points.read(out_file)
    if not points.end and finished.returncode != 0 and not finished.stopped_at_bound:
        raise _script_failed(run, finished, _k6.error_line(finished.stdout, finished.stderr))
    t0 = min((e - s for e, s in zip(points.end, points.seconds, strict=True)), default=finished.started_at)
    samples = points.samples(t0)
    duration = max(max(points.end, default=t0) - t0, 1e-3)
    _reached(run, samples.outcome.tolist())
    warnings = _exit_warnings(run, finished, {99: "its own thresholds failed"})
    if warning:
        warnings.append(warning)
    if points.dropped:
        warnings.append(
            f"k6 dropped {points.dropped} iterations (its VUs were all busy): the offered load fell short"
        )
    generator = GeneratorReport(
        requests=len(samples),
        cpu_seconds=finished.cpu_seconds,
        wall_seconds=duration,
        late_starts=0,
        dropped=points.dropped,
        workers=1,
        transport="k6",
        max_in_flight=points.max_vus,
        connections_opened=0,
    )
    return run_result(
        tool="k6",
        target=run.base_url,
        samples=samples,
        windows=windows_of(samples, WINDOW_S, duration),
        window_seconds=WINDOW_S,
        started_at=t0,
        duration=duration,
        generator=generator,
        sample_budget=run.sample_budget,
        warnings=warnings,
    )


async def _run_locust(run: BridgeRun, binary: str, folder: Path) -> RunResult:
    command = _locust.command(binary, run.script, folder, run.base_url, run.users, run.duration)
    finished = await _launch(run, command, folder)
    stats = _locust.LocustStats()
    if not stats.read(folder) or (stats.requests == 0 and finished.returncode != 0):
        if finished.stopped_at_bound:
            stats.start = finished.started_at
        else:
            raise _script_failed(run, finished, _locust.error_line(finished.stdout, finished.stderr))
    window = stats.window()
    _reached(run, [k for k, n in window.outcomes.items() for _ in range(min(n, 1))])
    duration = stats.duration
    generator = GeneratorReport(
        requests=stats.requests,
        cpu_seconds=finished.cpu_seconds,
        wall_seconds=duration,
        late_starts=0,
        dropped=0,
        workers=1,
        transport="locust",
        max_in_flight=run.users,
        connections_opened=0,
    )
    return run_result(
        tool="locust",
        target=run.base_url,
        samples=Samples.empty(),
        windows=[window],
        window_seconds=max(duration, WINDOW_S),
        started_at=stats.start if stats.requests else finished.started_at,
        duration=duration,
        generator=generator,
        sample_budget=run.sample_budget,
        warnings=_exit_warnings(run, finished, {1: "some of its requests failed"}),
        approximate=_locust.APPROXIMATE,
    )


async def _launch(run: BridgeRun, command: list[str], folder: Path) -> Finished:
    env = {"BASE_URL": run.base_url, "SK_LOADAGENT_ALLOW_HOSTS": ",".join(run.allow_hosts)}
    if run.runner == "k6":
        env["K6_NO_USAGE_REPORT"] = "true"
    return await run_bounded(
        command, bound_s=run.bound_s, grace_s=STOP_GRACE_S, cwd=run.script.parent, env=env, folder=folder
    )


def _script_failed(run: BridgeRun, finished: Finished, line: str) -> InputError:
    what = "k6 script" if run.runner == "k6" else "locustfile"
    return InputError.single(
        str(run.script),
        "script",
        f"a {what} that runs ({run.runner} exited with {finished.returncode})",
        line,
    )


def _reached(run: BridgeRun, outcomes: list[int]) -> None:
    """Exit 3, as for the engine's own runs, when every request failed to connect."""
    if outcomes and all(o in _NO_ANSWER for o in outcomes):
        raise TargetUnreachableError(
            f"{run.runner}: no request reached {run.base_url} (every one failed to connect)"
        )


def _exit_warnings(run: BridgeRun, finished: Finished, known: dict[int, str]) -> list[str]:
    warnings = []
    if finished.stopped_at_bound:
        how = "killed" if finished.killed else "stopped"
        warnings.append(
            f"{run.runner} was still running at the test's bound ({run.bound_s:g} s: its duration plus "
            f"{run.startup_grace:g} s to start) and was {how} there: the results end at that moment"
        )
    elif finished.returncode != 0:
        reason = known.get(finished.returncode, "see its output")
        warnings.append(f"{run.runner} exited with {finished.returncode} ({reason})")
    return warnings
