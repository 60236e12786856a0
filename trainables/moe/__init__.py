"""LakeHelm's two-gate mixture of experts: picks engine, data-lake format and config for a SQL workload.

Plain PyTorch; :func:`train_moe` is the per-worker training loop that the Ray Train adapter
(:mod:`trainables.train`) runs on each worker, and that also runs alone (one process, CPU or GPU).
"""

from trainables.moe._features import (
    PRIOR_CLIPPED_RATIO,
    PRIOR_COUNT,
    PRIOR_LOG_RATIO,
    PlanVocabulary,
    PreparedData,
    config_priors,
    prepare,
)
from trainables.moe._job import Fit, MoEJob, fit_locally, run_job
from trainables.moe._loop import (
    SELECTION_MODES,
    MoEConfig,
    TrainOutcome,
    build_model,
    choose_records,
    load_model,
    score,
    train_moe,
)
from trainables.moe._model import AttentionPool, MoEShape, TreeQueryEncoder, TwoGateMoE
from trainables.moe._selector import MoESelector, Selection

__all__ = [
    "PRIOR_CLIPPED_RATIO",
    "PRIOR_COUNT",
    "PRIOR_LOG_RATIO",
    "SELECTION_MODES",
    "AttentionPool",
    "Fit",
    "MoEJob",
    "MoEConfig",
    "MoEShape",
    "MoESelector",
    "Selection",
    "PlanVocabulary",
    "PreparedData",
    "TrainOutcome",
    "TreeQueryEncoder",
    "TwoGateMoE",
    "build_model",
    "config_priors",
    "fit_locally",
    "choose_records",
    "load_model",
    "prepare",
    "run_job",
    "score",
    "train_moe",
]
