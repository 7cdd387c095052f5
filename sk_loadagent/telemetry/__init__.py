"""Telemetry of the service under test: CPU and memory of its process, sampled while a test runs."""

from sk_loadagent.telemetry._cgroup import cpu_quota_cores
from sk_loadagent.telemetry._sampler import ProcessSampler
from sk_loadagent.telemetry.resources import ResourceSamples

__all__ = ["ProcessSampler", "ResourceSamples", "cpu_quota_cores"]
