"""Trial backends: what measures a configuration for a search.

- the pool of real database servers on Ray (``raytune.tune``: every real search),
- ``TabulatedBackend``: replays recorded trials (exact or nearest configuration, simulated time),
- ``SurrogateBackend``: a trained cost model's predictions.

The search's stages, optimizers, penalties, resume and confirmation are the same code on each; the tabulated
and surrogate backends run in the driver's process, so their searches need neither servers nor Ray workers.
"""

from __future__ import annotations

from raytune.backends._protocol import TrialBackend
from raytune.backends._surrogate import CostPredictor, SurrogateBackend
from raytune.backends._tabulated import (
    TabulatedBackend,
    config_key,
    load_rows,
    recorded_shape,
    replay,
    select_rows,
    workload_key,
)

__all__ = [
    "CostPredictor",
    "SurrogateBackend",
    "TabulatedBackend",
    "TrialBackend",
    "config_key",
    "load_rows",
    "recorded_shape",
    "replay",
    "select_rows",
    "workload_key",
]
