"""Trial records: what every trial leaves behind, and the objective they are scored by."""

from __future__ import annotations

from raytune.records._objective import OBJECTIVES, Objective, PenaltyState
from raytune.records._trial import Direction, TrialRecord, TrialStatus, new_trial_id

__all__ = [
    "OBJECTIVES",
    "Direction",
    "Objective",
    "PenaltyState",
    "TrialRecord",
    "TrialStatus",
    "new_trial_id",
]
