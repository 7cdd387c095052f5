"""Optional libraries of the agent's features: ``require`` (defined in ``sk_loadagent.extras``, below the
engine, which needs it for its surfaces)."""

from sk_loadagent.extras import require

__all__ = ["require"]
