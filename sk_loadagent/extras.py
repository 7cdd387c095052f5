"""Optional libraries, imported by the module that needs them: a missing one is bad input naming the extra
to install, not an ImportError traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from sk_loadagent.errors import InputError


def require(module: str, extra: str, feature: str) -> ModuleType:
    """``module`` imported, or an InputError saying which ``pip install`` brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError.single(
            feature, module, f"the {module} package (pip install 'sk-loadagent[{extra}]')", "not installed"
        ) from None
