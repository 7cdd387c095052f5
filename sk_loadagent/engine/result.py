"""The engine's results, defined in ``sk_loadagent.measurements`` (below analysis) and re-exported here."""

from sk_loadagent.measurements import (
    OUTCOME_NAMES,
    GeneratorReport,
    NodeReport,
    Outcome,
    Phase,
    RunResult,
    Samples,
    StepMeasurements,
    StepTally,
    Window,
)

__all__ = [
    "OUTCOME_NAMES",
    "GeneratorReport",
    "NodeReport",
    "Outcome",
    "Phase",
    "RunResult",
    "Samples",
    "StepMeasurements",
    "StepTally",
    "Window",
]
