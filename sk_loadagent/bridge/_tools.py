"""Where a bridged tool's executable is: beside this interpreter (its extra puts it there), else on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from sk_loadagent.errors import InputError


def executable(name: str, extra: str, source: str) -> str:
    """The path of ``name``, or an InputError naming the pip command whose extra brings it."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is not None:
        return found
    raise InputError.single(
        source, "runner", f"the {name} executable (pip install 'sk-loadagent[{extra}]')", "not installed"
    )
