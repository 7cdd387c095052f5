"""MemoryPusherSkill (spec cycles 6 and 17): validated runs into the memory store."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from sk_loadagent.memory import MemoryStore
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.skills._coerce import perf_metrics
from sk_loadagent.skills._schema import takes, tool_function
from sk_loadagent.suite.remember import push


class MemoryPusher:
    """Saves validated test results, moves the baseline when a run earns it, and marks obsolete baselines."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    @tool_function(
        name="push_to_memory",
        description="Store each evaluated test in memory; returns the stored run ids and baseline changes.",
    )
    async def push_to_memory(
        self,
        perfMetrics: Annotated[Any, takes(PerfMetrics, "evaluated perf-metrics of one test or of a suite")],
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(push, perf_metrics(perfMetrics), self.store)
