"""The generative knob recommender (seed document 000, E2ETune): workload text -> one bucket per knob.

Labels come from the corpus (measured bests, multi-step pairs) and from searching the DANN cost model
(surrogate bests); the model is a frozen text encoder with trained top layers and a transformer decoder that
writes the knob buckets one by one; inference samples candidates and ranks them with the cost model.
Plain PyTorch; :func:`train_recommender` is the per-worker loop that Ray Train runs.
"""

from trainables.recommender._backbone import DEFAULT_BACKBONE, TextBackbone, backbone_path
from trainables.recommender._buckets import BUCKETS, KnobBuckets, bucket_count
from trainables.recommender._data import RecommenderData, build_data, grouped_validation, knob_ids, vocabulary
from trainables.recommender._inputs import (
    Step,
    numeric_vector,
    queries_workload,
    sql_only,
    sql_workload,
    workload_text,
)
from trainables.recommender._job import Fit, fit_locally, make_labels, train_recommender_model
from trainables.recommender._labels import (
    Label,
    measured_labels,
    read_labels,
    surrogate_best,
    surrogate_labels,
    write_labels,
)
from trainables.recommender._loop import RecommenderConfig, evaluate_rows, train_recommender
from trainables.recommender._model import RecommenderArch, RecommenderNet
from trainables.recommender._recommender import (
    PRETRAINED,
    Recommendation,
    Recommender,
    SampleRequest,
    StepResult,
    rank_candidates,
)

__all__ = [
    "BUCKETS",
    "DEFAULT_BACKBONE",
    "PRETRAINED",
    "Fit",
    "KnobBuckets",
    "Label",
    "Recommendation",
    "Recommender",
    "RecommenderArch",
    "RecommenderConfig",
    "RecommenderData",
    "RecommenderNet",
    "SampleRequest",
    "Step",
    "StepResult",
    "rank_candidates",
    "TextBackbone",
    "backbone_path",
    "bucket_count",
    "build_data",
    "evaluate_rows",
    "fit_locally",
    "grouped_validation",
    "knob_ids",
    "make_labels",
    "measured_labels",
    "numeric_vector",
    "read_labels",
    "queries_workload",
    "sql_only",
    "sql_workload",
    "surrogate_best",
    "surrogate_labels",
    "train_recommender",
    "train_recommender_model",
    "vocabulary",
    "workload_text",
    "write_labels",
]
