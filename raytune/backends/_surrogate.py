"""A backend whose measurements are a trained cost model's predictions for one workload.

A search against it takes seconds (HEBO, SMAC and TPE run unchanged): it is how the recommender's training
labels are made, and how a user asks "what would the model tune here?" before spending server time. Every
record says that it is a prediction (``instance.backend = "surrogate"``, the model's version); nothing it
produces is a measurement, and the search's confirmation stage re-predicts rather than re-measures.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from raytune.records import Direction, TrialRecord, TrialStatus
from raytune.slots import SlotShape


class CostPredictor(Protocol):
    """What the backend needs of a cost model (``trainables.dann.CostModel`` is one)."""

    objective_name: str
    direction: str
    version: str

    def predict(self, configs: Sequence[Mapping[str, Any]], workload: Any) -> Sequence[float]:
        """The predicted objective of each configuration for ``workload``."""
        ...


class SurrogateBackend:
    """Predicts instead of measuring: one ``predict`` call per trial, batched by the caller when it can."""

    name = "surrogate"

    def __init__(self, model: CostPredictor, workload: Any, engine: str, shape: SlotShape) -> None:
        self.model = model
        self.workload = workload
        self.engine = engine
        self.shape = shape

    def measure(self, config: Mapping[str, Any], trial_id: str) -> TrialRecord:
        started = time.time()
        value = float(self.model.predict([dict(config)], self.workload)[0])
        return TrialRecord(
            trial_id=trial_id,
            status=TrialStatus.SUCCEEDED,
            objective=value,
            objective_name=self.model.objective_name,
            direction=Direction(self.model.direction),
            engine=self.engine,
            workload=_describe(self.workload),
            config=dict(config),
            summary={self.model.objective_name: value, "predicted": True},
            hardware=self.shape.hardware().to_dict(),
            slot={**self.shape.to_dict(), "shape": self.shape.describe(), "enforced": {"cpu": "predicted"}},
            timings={"total_s": time.time() - started},
            instance={"backend": self.name, "model": self.model.version},
        )

    def close(self) -> None:
        return None


def _describe(workload: Any) -> dict[str, Any]:
    describe = getattr(workload, "describe", None)
    return describe() if callable(describe) else {"name": str(workload)}
