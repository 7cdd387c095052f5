"""doc-coverage.metrics.json (spec cycles 9, 10, 16 and 19): per module and edition, which test types and
endpoints have been covered, and the history of scores (with p95) across runs that Studio charts.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from sk_loadagent.models._base import FieldProblem, Timestamp, WireModel
from sk_loadagent.models.metrics import AnyStatus

DEFAULT_HISTORY = 200


class ScorePoint(WireModel):
    """One run in a module's score history."""

    trace_id: str | None = None
    score: float = Field(ge=0, le=1)
    status: AnyStatus | None = None
    at: Timestamp | None = None
    test_type: str | None = None
    latency_p95: float | None = Field(default=None, ge=0)
    retry_attempt: int | None = Field(default=None, ge=0)


class ModuleCoverage(WireModel):
    """Coverage and score trend of one module in one edition."""

    module_id: str = Field(min_length=1)
    edition_id: str | None = None
    test_types: list[str] = Field(default_factory=list)
    endpoints: list[str] = Field(default_factory=list)
    score_history: list[ScorePoint] = Field(default_factory=list)

    def latest(self) -> ScorePoint | None:
        return self.score_history[-1] if self.score_history else None


class DocCoverage(WireModel):
    """A doc-coverage.metrics.json document."""

    updated_at: Timestamp | None = None
    modules: list[ModuleCoverage] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_entry_per_scope(self) -> DocCoverage:
        scopes = [(m.module_id, m.edition_id) for m in self.modules]
        for scope in scopes:
            if scopes.count(scope) > 1:
                shown = f"{scope[0]}/{scope[1] or '*'}"
                raise FieldProblem("modules", f"one entry per module and edition ({shown} repeats)")
        return self

    def coverage(self, module_id: str, edition_id: str | None) -> ModuleCoverage | None:
        return next(
            (m for m in self.modules if m.module_id == module_id and m.edition_id == edition_id), None
        )

    def with_run(
        self,
        *,
        module_id: str,
        edition_id: str | None,
        test_type: str | None,
        endpoint: str | None,
        point: ScorePoint,
        keep: int = DEFAULT_HISTORY,
    ) -> DocCoverage:
        """A copy with one more run recorded: its test type and endpoint covered, its score appended
        (the oldest points dropped beyond ``keep``)."""
        existing = self.coverage(module_id, edition_id)
        current = existing or ModuleCoverage(module_id=module_id, edition_id=edition_id)
        updated = ModuleCoverage(
            module_id=module_id,
            edition_id=edition_id,
            test_types=_with(current.test_types, test_type),
            endpoints=_with(current.endpoints, endpoint),
            score_history=[*current.score_history, point][-keep:],
        )
        modules = [updated if m is existing else m for m in self.modules]
        if existing is None:
            modules.append(updated)
        return DocCoverage(updated_at=point.at or self.updated_at, modules=modules)


def _with(items: list[str], item: str | None) -> list[str]:
    return items if item is None or item in items else [*items, item]
