"""The layers hold: analysis is pure (no engine, telemetry, HTTP clients or Semantic Kernel), the SK-free
domain packages never reach up to the kernel side, and prompts sit below the planners.

Two checks: every import statement in the source (function-level ones included), and what a fresh
interpreter has loaded after ``import sk_loadagent.analysis`` (this one has imported everything)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sk_loadagent

PACKAGE = Path(sk_loadagent.__file__).parent
# The kernel side and the dashboard above the domain packages: nothing below imports them.
KERNEL_SIDE = ("suite", "skills", "planners", "prompts", "agent", "cli", "semantic_kernel", "dashboard")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # Plain data and helpers at the bottom import no part of the agent above them.
    "errors": ("models", "engine", "telemetry", "analysis", "memory", "publish", *KERNEL_SIDE),
    "histogram": ("models", "engine", "telemetry", "analysis", "memory", "publish", *KERNEL_SIDE),
    "measurements": ("models", "engine", "telemetry", "analysis", "memory", "publish", *KERNEL_SIDE),
    "atomic": ("models", "engine", "telemetry", "analysis", "memory", "publish", *KERNEL_SIDE),
    "models": ("engine", "telemetry", "analysis", "memory", "publish", *KERNEL_SIDE),
    "analysis": ("engine", "telemetry", "memory", "publish", *KERNEL_SIDE, "httpx", "httptools", "uvloop"),
    "engine": ("telemetry", "analysis", "memory", "publish", *KERNEL_SIDE),
    "telemetry": ("engine", "analysis", "memory", "publish", *KERNEL_SIDE),
    "memory": ("engine", "telemetry", "publish", *KERNEL_SIDE),
    "publish": ("engine", "telemetry", "memory", *KERNEL_SIDE),
    "observability": ("analysis", "memory", "publish", *KERNEL_SIDE),
    "extras": ("models", "engine", "telemetry", "analysis", "memory", "publish", *KERNEL_SIDE),
    "prompts": ("planners", "skills", "suite", "cli"),
    "agent": ("cli",),
    "bridge": ("analysis", "memory", "publish", *KERNEL_SIDE),
    "cluster": ("analysis", "memory", "publish", *KERNEL_SIDE),
}


def layer_of(module: str) -> str | None:
    """``sk_loadagent.engine._runner`` -> ``engine``; ``httpx._client`` -> ``httpx``."""
    parts = module.split(".")
    if parts[0] == "sk_loadagent":
        return parts[1] if len(parts) > 1 else None
    return parts[0]


def imports_of(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def sources(layer: str) -> list[Path]:
    single = PACKAGE / f"{layer}.py"
    return [single] if single.exists() else sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_module_imports_a_layer_it_must_not(layer: str) -> None:
    files = sources(layer)
    assert files, f"no sources for {layer}"
    broken = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in files
        for line, module in imports_of(path)
        if layer_of(module) in FORBIDDEN[layer]
    ]
    assert broken == []


def test_importing_analysis_loads_no_engine_telemetry_http_client_or_kernel() -> None:
    check = "import sys, sk_loadagent.analysis\nprint('\\n'.join(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "sk_loadagent.analysis" in loaded
    unwanted = (
        "httpx",
        "httptools",
        "uvloop",
        "semantic_kernel",
        "sk_loadagent.engine",
        "sk_loadagent.telemetry",
    )
    assert [m for m in loaded if m.startswith(unwanted)] == []
