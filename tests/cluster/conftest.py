"""A real Ray cluster on this machine: a head and two worker nodes (one CPU each), started once per session
with ``ray.cluster_utils.Cluster`` and shut down after (never ``ray stop``: it kills every Ray process on the
machine). Ray's control traffic uses the machine's own address; load goes to the loopback sample service."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from sk_loadagent.sample_service import SampleService

NODE = {"num_cpus": 1, "object_store_memory": 100_000_000}


@pytest.fixture(scope="session")
def started_cluster() -> Iterator[Any]:
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            **NODE,
            "include_dashboard": False,
            # a node that stops answering is declared dead in about a second, not thirty
            "_system_config": {"health_check_period_ms": 300, "health_check_failure_threshold": 3},
        },
    )
    try:
        for _ in range(2):
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


@pytest.fixture
def ray_cluster(started_cluster: Any) -> Any:
    """The session's cluster with its two worker nodes: one a test removed is added back first (only when a
    later test needs it, so the last test that removes one does not pay for its return)."""
    while len(started_cluster.worker_nodes) < 2:
        started_cluster.add_node(**NODE)
    started_cluster.wait_for_nodes()
    return started_cluster


@pytest.fixture(scope="module")
def service() -> Iterator[SampleService]:
    # 100 ms with little jitter and no queue: a few milliseconds of scheduling noise on this busy machine
    # stay within the 5 % the cluster's percentiles are held to against a local run
    with SampleService(release="stable", latency_ms=100, jitter=0.05, capacity=None) as started:
        yield started
