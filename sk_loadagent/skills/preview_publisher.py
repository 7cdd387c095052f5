"""PreviewPublisherSkill (spec cycles 4, 14, 16, 19): artifacts and the Studio preview."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.publish import write_artifacts
from sk_loadagent.skills._coerce import attempt_history, perf_metrics
from sk_loadagent.skills._schema import takes, tool_function


class PreviewPublisher:
    """Writes perf-metrics.json, load-trace-map.yaml, studio.performance.preview.json, the score log,
    regression-alert.yaml when needed, the per-edition copies and the build badge, each atomically."""

    def __init__(
        self,
        out_dir: str | Path = "perf",
        steps: Callable[[], list[dict[str, Any]]] | None = None,
        *,
        report: bool = False,
    ) -> None:
        """``report``: the run also writes report.html (the preview offers ``view-report``)."""
        self.out_dir = Path(out_dir)
        self.steps = steps
        self.report = report

    @tool_function(
        name="publish_preview",
        description="Write the run's artifacts and the Studio preview tile; returns their paths.",
    )
    def publish_preview(
        self,
        perfMetrics: Annotated[Any, takes(PerfMetrics, "evaluated perf-metrics of a suite")],
        attempts: Annotated[
            Any, takes(list[dict[str, Any]] | None, "the retry history, one mapping per attempt")
        ] = None,
    ) -> dict[str, str]:
        written = write_artifacts(
            perf_metrics(perfMetrics),
            self.out_dir,
            steps=self.steps() if self.steps else [],
            attempts=attempt_history(attempts),
            report=self.report,
        )
        return {name: str(path) for name, path in written.items()}
