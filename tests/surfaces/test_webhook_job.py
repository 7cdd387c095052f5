"""Webhooks (a loopback receiver per worker, ${webhook.url} per call, sender retries, delivery ratio) and jobs
(submit, id, polls until a JSONPath condition, failures, bounded by the timeout)."""

from __future__ import annotations

from typing import Any

import numpy as np
from http_surfaces_server import surface_service

from sk_loadagent.analysis.summary import summarize
from sk_loadagent.engine import RunOptions, RunResult, build_profile, run_load
from sk_loadagent.engine.result import OUTCOME_NAMES
from sk_loadagent.models.loading import validate_document
from sk_loadagent.models.plan import TestSpec


def _test(surface: str, block: dict[str, Any], **shape: Any) -> TestSpec:
    document: dict[str, Any] = {
        "type": "load",
        "surface": surface,
        "rps": 10,
        "duration": "1s",
        "rampUp": "0s",
    }
    document.update(shape)
    document[surface] = block
    return validate_document(document, TestSpec, "surfaces.plan.yaml", strict=True)


async def _run(test: TestSpec, url: str) -> RunResult:
    return await run_load(build_profile(test, base_url=url), RunOptions(workers=0))


def _outcomes(result: RunResult) -> dict[str, int]:
    codes, counts = np.unique(result.samples.outcome, return_counts=True)
    return {OUTCOME_NAMES[int(c)]: int(n) for c, n in zip(codes, counts, strict=True)}


TRIGGER = {"trigger": {"path": "/notify", "json": {"callback": "${webhook.url}", "id": "${uuid}"}}}


async def test_webhook_latency_runs_from_the_intended_trigger_to_the_delivery() -> None:
    with surface_service(delay=0.03, retries=True) as service:
        result = await _run(_test("webhook", TRIGGER), service.url)
    assert _outcomes(result) == {"ok": 10}
    assert np.all(result.samples.latency >= 0.03)
    surface = summarize(result).surface
    assert surface is not None
    assert surface.kind == "webhook"
    assert surface.lag_from == "intended-trigger"
    assert surface.triggered == 10
    assert surface.delivered == 10
    assert surface.delivery_ratio == 1.0
    assert surface.retries is not None
    assert surface.retries >= 8  # each delivered twice (the last retries may come after the end)
    assert surface.trigger_time is not None


async def test_a_webhook_that_never_comes_is_a_timeout() -> None:
    with surface_service() as service:
        block = {"trigger": {"path": "/notify", "json": {"callback": "http://127.0.0.1:9/nowhere"}}}
        result = await _run(_test("webhook", block, rps=5, timeout="300ms"), service.url)
    assert _outcomes(result) == {"timeout": 5}


JOB = {
    "submit": {"path": "/reports", "json": {"kind": "monthly"}},
    "id": "$.id",
    "poll": {"path": "/reports/${job.id}", "interval": "20ms"},
    "until": {"$.status": "done"},
    "failWhen": {"$.status": "failed"},
}


async def test_a_job_runs_from_submit_to_done_and_counts_its_polls() -> None:
    with surface_service(delay=0.1) as service:
        result = await _run(_test("job", JOB), service.url)
    assert _outcomes(result) == {"ok": 10}
    assert np.all(result.samples.latency >= 0.1)
    surface = summarize(result).surface
    assert surface is not None
    assert surface.lag_from == "intended-submit"
    assert surface.done == 10
    assert surface.polls is not None
    assert surface.polls.units == 10
    assert surface.polls.max is not None
    assert 3 <= surface.polls.max <= 30  # 100 ms of running, polled every 20 ms (later on a busy machine)


async def test_a_failed_job_is_a_check_error_and_a_slow_one_times_out() -> None:
    with surface_service(delay=0.05) as service:
        failing = await _run(
            _test("job", {**JOB, "submit": {"path": "/reports", "body": "fail"}}, rps=5), service.url
        )
    with surface_service(delay=5.0) as service:
        slow = await _run(_test("job", JOB, rps=5, timeout="200ms"), service.url)
    assert _outcomes(failing) == {"check": 5}
    assert _outcomes(slow) == {"timeout": 5}
