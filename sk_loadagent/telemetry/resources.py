"""Resource samples of the target process, defined in ``sk_loadagent.measurements`` and re-exported here."""

from sk_loadagent.measurements import ResourceSamples

__all__ = ["ResourceSamples"]
