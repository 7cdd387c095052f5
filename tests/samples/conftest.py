from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from sk_loadagent.sample_service import samples_dir


@pytest.fixture(scope="session")
def app_module() -> ModuleType:
    """samples/service/app.py imported in-process (it is a script, not part of the package)."""
    path = samples_dir() / "service" / "app.py"
    spec = importlib.util.spec_from_file_location("vetclinic_sample_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
