"""Issue 8: the retry phase's time budget (``suite.retries.RetryClock``), on a clock the test moves, and the
budget and history the planner hands recommend_retry.

By default the retries may take as long as the first attempt took, cool-downs included; a cool-down is at
most 10 s (or ``--retry-cooldown``), none before a warm start, and shortened to what the budget leaves.
"""

from __future__ import annotations

import pytest
from perf_builders import judged_test
from semantic_kernel import Kernel
from semantic_kernel.exceptions import KernelInvokeException
from semantic_kernel.functions import KernelArguments

from sk_loadagent.errors import InputError, root_cause
from sk_loadagent.skills import ThresholdEvaluator
from sk_loadagent.suite.retries import RetryClock


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _clock(**kwargs: float | None) -> tuple[RetryClock, Clock]:
    now = Clock()
    return RetryClock(now=now, **kwargs), now


def test_by_default_the_retries_may_take_as_long_as_the_first_attempt() -> None:
    clock, now = _clock()
    clock.attempt_starts()
    now.t += 30.0  # the first attempt ran 30 s when its retries are decided
    assert clock.budget() == {"secondsLeft": 30.0, "attemptSeconds": 30.0}
    now.t += 0.5
    clock.attempt_ends()
    assert clock.budget_s == 30.5
    clock.attempt_starts()
    now.t += 12.0  # a retry ran 12 s
    assert clock.budget() == {"secondsLeft": 18.5, "attemptSeconds": 12.0}
    now.t += 40.0
    assert clock.budget()["secondsLeft"] == 0.0  # spent: never negative


def test_an_explicit_budget_counts_from_the_end_of_the_first_attempt() -> None:
    clock, now = _clock(budget_s=120.0)
    clock.attempt_starts()
    now.t += 30.0
    assert clock.budget()["secondsLeft"] == 120.0
    clock.attempt_ends()
    now.t += 20.0
    assert clock.budget()["secondsLeft"] == 100.0


def test_a_cool_down_is_shortened_to_what_the_budget_leaves() -> None:
    clock, now = _clock(budget_s=50.0)
    clock.attempt_starts()
    now.t += 20.0
    clock.attempt_ends()
    assert clock.cooldown({"cooldownSeconds": 10.0, "expectedSeconds": 30.0}) == 10.0
    assert clock.cooldown({"cooldownSeconds": 10.0, "expectedSeconds": 47.0}) == 3.0
    assert clock.cooldown({"cooldownSeconds": 10.0, "expectedSeconds": 60.0}) == 0.0
    assert clock.cooldown({"cooldownSeconds": 0.0, "expectedSeconds": 10.0}) == 0.0  # a warm start


def test_retry_cooldown_sets_the_pause_but_never_before_a_warm_start() -> None:
    clock, _ = _clock(budget_s=100.0, cooldown_s=30.0)
    clock.attempt_starts()
    clock.attempt_ends()
    assert clock.cooldown({"cooldownSeconds": 10.0, "expectedSeconds": 20.0}) == 30.0
    assert clock.cooldown({"cooldownSeconds": 0.0, "expectedSeconds": 20.0}) == 0.0
    assert clock.cooldown({"cooldownSeconds": 10.0, "expectedSeconds": 90.0}) == 10.0


# -- the skill's arguments ---------------------------------------------------------------------------------


async def _recommend_with(**arguments: object) -> Exception:
    kernel = Kernel()
    kernel.add_plugin(ThresholdEvaluator(), plugin_name="ThresholdEvaluator")
    failed = judged_test("degraded", 0.7).to_wire()
    with pytest.raises(KernelInvokeException) as caught:
        await kernel.invoke(
            plugin_name="ThresholdEvaluator",
            function_name="recommend_retry",
            arguments=KernelArguments(perfMetrics=failed, **arguments),
        )
    cause = root_cause(caught.value)
    assert isinstance(cause, InputError)
    return cause


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"retryBudget": {"secondsLeft": -1, "attemptSeconds": 3}},
            "retryBudget: secondsLeft: expected a number of seconds, 0 or more, got -1",
        ),
        (
            {"retryBudget": {"secondsLeft": 5}},
            "retryBudget: attemptSeconds: expected a number of seconds, 0 or more, got None",
        ),
        (
            {"retriedFor": {"0": "cold-start"}},
            "retriedFor: 0: expected a list of trigger kinds, got 'cold-start'",
        ),
    ],
    ids=["negative-budget", "missing-attempt-seconds", "kinds-not-a-list"],
)
async def test_recommend_retry_refuses_a_bad_budget_or_history(
    arguments: dict[str, object], message: str
) -> None:
    assert str(await _recommend_with(**arguments)) == message
