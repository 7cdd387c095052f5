"""Adding the optional LLM explanation to a preview that the chain has already published."""

from __future__ import annotations

import json
from pathlib import Path

from sk_loadagent.atomic import write_atomic
from sk_loadagent.models.preview import PerformancePreview
from sk_loadagent.publish import paths
from sk_loadagent.publish.artifacts import dump_json


def add_explanation(out_dir: str | Path, text: str) -> Path:
    """Rewrite studio.performance.preview.json with ``explanation`` set; every other field is kept."""
    path = Path(out_dir) / paths.PREVIEW
    preview = PerformancePreview.model_validate(json.loads(path.read_text(encoding="utf-8")))
    preview.explanation = text
    return write_atomic(path, dump_json(preview.to_wire()))
