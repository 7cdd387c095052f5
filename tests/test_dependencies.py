"""Every dependency pyproject.toml declares for the package (its core and its optional features) is used:
imported, or looked up with importlib.util.find_spec, by sk_loadagent or the bundled samples."""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Distributions whose import name is not their name (or that an extra brings in).
IMPORT_NAMES = {
    "pyyaml": "yaml",
    "httpx[http2]": "h2",
    "psycopg[binary]": "psycopg",
    "nats-py": "nats",
    "grpcio": "grpc",
    "grpcio-tools": "grpc_tools",
    # the OpenTelemetry distributions share the opentelemetry namespace package
    "opentelemetry-proto": "opentelemetry",
    "opentelemetry-sdk": "opentelemetry",
    "opentelemetry-exporter-otlp-proto-http": "opentelemetry",
}
TOOLING_EXTRAS = {"dev"}  # test and lint tools, run rather than imported
# Packages that ship a program the bridge runs (sk_loadagent.bridge), rather than a module to import.
PROGRAMS = {"k6"}


def declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        if extra not in TOOLING_EXTRAS:
            requirements += items
    return [r for r in requirements if not r.startswith("sk-loadagent")]


def import_name(requirement: str) -> str:
    name = re.split(r"[<>=!~;\s]", requirement, maxsplit=1)[0].lower()
    return IMPORT_NAMES.get(name, name.split("[")[0].replace("-", "_"))


@functools.cache
def used_modules() -> frozenset[str]:
    # An optional library may be imported through sk_loadagent.agent._extras.require("name", ...).
    pattern = re.compile(
        r"^\s*(?:import|from)\s+([A-Za-z_]\w*)|(?:find_spec|require)\(\"([A-Za-z_]\w*)", re.MULTILINE
    )
    found: set[str] = set()
    for folder in ("sk_loadagent", "samples"):
        for path in (ROOT / folder).rglob("*.py"):
            found |= {a or b for a, b in pattern.findall(path.read_text(encoding="utf-8"))}
    return frozenset(found)


@pytest.mark.parametrize("requirement", declared())
def test_each_declared_dependency_is_used(requirement: str) -> None:
    if import_name(requirement) in PROGRAMS:
        bridge = "".join(
            p.read_text(encoding="utf-8") for p in (ROOT / "sk_loadagent" / "bridge").glob("*.py")
        )
        assert f'"{import_name(requirement)}"' in bridge, f"{requirement} is declared but never run"
        return
    assert import_name(requirement) in used_modules(), f"{requirement} is declared but never imported"
