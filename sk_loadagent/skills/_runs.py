"""The runs run_load_tests produced, kept in this process under an id for collect_metrics.

A run's raw samples (up to millions of timings) cannot travel through KernelArguments as JSON, nor through a
model's chat: run_load_tests returns a small JSON reference (``runResultsId`` and one line per test), and
collect_metrics looks the runs up here. The kernel gives both skills one cache (``build_kernel``); it keeps
the newest few batches, so a long-lived kernel does not hold every run it ever made.
"""

from __future__ import annotations

import itertools
import uuid
from collections import OrderedDict

from pydantic import Field

from sk_loadagent.models._base import WireModel
from sk_loadagent.suite.execute import TestRun


class RunSummary(WireModel):
    """One test's run, in a line: what was sent and for how long."""

    index: int = Field(description="the test's index in the execution plan")
    target: str = Field(description="the URL the load went to")
    measured_requests: int = Field(description="requests sent in the measured phases")
    duration_seconds: float = Field(description="the schedule's length in seconds")
    complete: bool = Field(description="true when every request's timing was kept (else histograms)")


class RunResults(WireModel):
    """What run_load_tests returns and collect_metrics takes: the id of the runs, and a line per test."""

    run_results_id: str = Field(description="the id run_load_tests gave the runs")
    tests: list[RunSummary] = Field(default_factory=list, description="one line per test (informative)")


class RunResultCache:
    """The newest ``capacity`` batches of runs, by id."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._batches: OrderedDict[str, list[TestRun]] = OrderedDict()
        self._prefix = uuid.uuid4().hex[:8]
        self._counter = itertools.count(1)

    def put(self, runs: list[TestRun]) -> RunResults:
        run_id = f"runs-{self._prefix}-{next(self._counter)}"
        self._batches[run_id] = runs
        while len(self._batches) > self.capacity:
            self._batches.popitem(last=False)
        return RunResults(
            run_results_id=run_id,
            tests=[
                RunSummary(
                    index=run.index,
                    target=run.result.target,
                    measured_requests=run.result.generator.requests,
                    duration_seconds=round(run.result.duration, 3),
                    complete=run.result.complete,
                )
                for run in runs
            ],
        )

    def get(self, run_id: str) -> list[TestRun] | None:
        return self._batches.get(run_id)

    def known(self) -> list[str]:
        return list(self._batches)
