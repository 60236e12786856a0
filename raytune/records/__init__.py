"""Trial records: what every trial leaves behind."""

from __future__ import annotations

from raytune.records._trial import Direction, TrialRecord, TrialStatus, new_trial_id

__all__ = ["Direction", "TrialRecord", "TrialStatus", "new_trial_id"]
