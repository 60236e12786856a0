"""The domain-adversarial cost model (seed document 003): predicts a workload's latency under a configuration,
trained on the corpus across engines and slot shapes with few target-domain labels.

Plain PyTorch; :func:`train_dann` is the per-worker loop that Ray Train runs (``python -m trainables.train
dann``) and that also runs alone. :class:`CostModel` loads a trained model directory for prediction.
"""

from trainables.dann._costmodel import PRETRAINED, CostModel
from trainables.dann._data import (
    DannData,
    Split,
    grouped_folds,
    load_data,
    make_split,
    source_domain,
    workload_inputs,
)
from trainables.dann._embed import PlanEmbedder
from trainables.dann._evaluate import accuracy, score, tuning_quality
from trainables.dann._features import FEATURES, GROUPS, KNOB_MAP, WorkloadInput, build_rows, knob_vector
from trainables.dann._inputs import describe_workload
from trainables.dann._job import Fit, evaluate_state, fit_locally, train_cost_model
from trainables.dann._loop import DannConfig, TrainOutcome, train_dann
from trainables.dann._model import DANNArch, DANNCostModel, coral_loss, reverse_gradient

__all__ = [
    "FEATURES",
    "GROUPS",
    "KNOB_MAP",
    "PRETRAINED",
    "CostModel",
    "DANNArch",
    "DANNCostModel",
    "DannConfig",
    "DannData",
    "Fit",
    "PlanEmbedder",
    "Split",
    "TrainOutcome",
    "WorkloadInput",
    "accuracy",
    "build_rows",
    "coral_loss",
    "describe_workload",
    "evaluate_state",
    "fit_locally",
    "grouped_folds",
    "knob_vector",
    "load_data",
    "make_split",
    "reverse_gradient",
    "score",
    "source_domain",
    "train_cost_model",
    "train_dann",
    "tuning_quality",
    "workload_inputs",
]
