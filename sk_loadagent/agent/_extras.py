"""The agent's optional libraries go through ``sk_loadagent.extras`` (kept here for the agent's modules)."""

from sk_loadagent.extras import require

__all__ = ["require"]
