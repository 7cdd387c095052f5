"""Distributed load on a Ray cluster: the engine's workers as Ray actors across the cluster's nodes.

    placement = connect("ray://10.0.0.5:10001", workers=None, tolerate_node_loss=False)
    result = await run_load(profile, RunOptions(placement=placement, allow_hosts=...))
    disconnect(placement)

The engine partitions the open-model schedule into one share per worker exactly as it does for local
processes (no request lost or sent twice), sends one start time shifted by each node's measured clock
offset, and merges the workers' samples and histograms bucket by bucket. Ray is imported only here (the
``ray`` extra), only when a cluster is asked for (``--cluster`` or ``RAY_ADDRESS``).
"""

from sk_loadagent.cluster._connect import connect, disconnect
from sk_loadagent.cluster._placement import RayPlacement

__all__ = ["RayPlacement", "connect", "disconnect"]
