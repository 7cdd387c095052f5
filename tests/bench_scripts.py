"""Importing the benchmark scripts (a folder of scripts, not a package) from tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def import_bench_module(name: str) -> ModuleType:
    """A module of benchmarks/, with its sibling helpers importable while it loads."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))
