"""edition.config.json (spec cycles 3, 14 and 15): per edition, the SLOs, the traffic model, the test types
enabled and the score calibration.

The document and each edition keep fields we do not know (other agents add their own); the parts that
change a verdict or a load (``slos``, ``trafficModel``, ``scoring``) are checked strictly.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from sk_loadagent.models._base import FieldProblem, OpenWireModel, WireModel
from sk_loadagent.models.plan import TestType
from sk_loadagent.models.thresholds import ThresholdLimits
from sk_loadagent.models.weighting import PartialWeights


class TrafficModel(WireModel):
    """How an edition scales a plan's load: lite editions run less traffic for a shorter time."""

    rps_scale: float | None = Field(default=None, gt=0, description="factor applied to every test's rps")
    concurrency: int | None = Field(default=None, ge=1, description="virtual users for concurrency tests")
    duration_scale: float | None = Field(default=None, gt=0, description="factor applied to durations")


class ScoringCalibration(WireModel):
    """Cycle 15: an edition may weigh the score components differently (e.g. less weight on throughput)."""

    weights: PartialWeights


class Edition(OpenWireModel):
    """One edition (product tier or tenant context)."""

    edition_id: str = Field(min_length=1)
    description: str | None = None
    modules: list[str] | None = Field(default=None, description="modules tested in this edition")
    slos: ThresholdLimits | None = None
    traffic_model: TrafficModel | None = None
    test_types: list[TestType] | None = Field(default=None, description="test types enabled; None = all")
    scoring: ScoringCalibration | None = None

    def enables(self, test_type: str) -> bool:
        return self.test_types is None or test_type in self.test_types

    def covers(self, module_id: str) -> bool:
        return self.modules is None or module_id in self.modules


class EditionConfig(OpenWireModel):
    """An edition.config.json document."""

    editions: list[Edition] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> EditionConfig:
        ids = [e.edition_id for e in self.editions]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise FieldProblem("editions", f"each editionId once ({', '.join(repeated)} repeats)")
        return self

    def edition(self, edition_id: str | None) -> Edition | None:
        return next((e for e in self.editions if e.edition_id == edition_id), None)

    def slo_limits(self, edition_id: str | None) -> ThresholdLimits | None:
        """The SLO limits of an edition, or None if the edition is unknown or declares none."""
        edition = self.edition(edition_id)
        return edition.slos if edition is not None else None

    def weights(self, edition_id: str | None) -> PartialWeights | None:
        """The edition's score calibration, or None."""
        edition = self.edition(edition_id)
        return edition.scoring.weights if edition is not None and edition.scoring is not None else None

    def enables(self, edition_id: str | None, test_type: str) -> bool:
        """Whether the edition runs this test type (an unknown edition restricts nothing)."""
        edition = self.edition(edition_id)
        return edition is None or edition.enables(test_type)
