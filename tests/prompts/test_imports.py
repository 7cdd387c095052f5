"""The engine and the analysis stay free of Semantic Kernel and of the prompts, and a run without an LLM
never loads the OpenAI connectors (checked in a fresh interpreter: this one has imported them)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import sk_loadagent.engine, sk_loadagent.analysis
loaded = sorted(m for m in sys.modules if m.startswith(("semantic_kernel", "sk_loadagent.prompts")))
assert not loaded, loaded
from sk_loadagent.prompts import chat_service_from_env
import sk_loadagent.planners.agent, sk_loadagent.cli.commands
assert chat_service_from_env({}) is None
assert "semantic_kernel.connectors.ai.open_ai" not in sys.modules
print("ok")
"""


def test_engine_imports_no_prompt_code_and_no_llm_connector_loads_unasked() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)

    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
