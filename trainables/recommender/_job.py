"""Training the recommender from a label set: data, workload-grouped validation, fit (Ray Train or in
process), save; and making the label set from a corpus and the cost model."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from raytune.corpus import Corpus
from raytune.errors import KnobrayError
from trainables.dann._features import WorkloadInput
from trainables.recommender._backbone import DEFAULT_BACKBONE, TextBackbone
from trainables.recommender._data import RecommenderData, build_data, grouped_validation
from trainables.recommender._labels import (
    measured_labels,
    read_labels,
    surrogate_labels,
    write_labels,
)
from trainables.recommender._loop import RecommenderConfig, train_recommender
from trainables.recommender._recommender import Recommender

logger = logging.getLogger(__name__)

Fit = Callable[
    [RecommenderData, np.ndarray, np.ndarray, RecommenderConfig],
    tuple[dict[str, Any], list[dict[str, float]]],
]


def fit_locally(device: str = "cpu") -> Fit:
    """Fits in this process (plain PyTorch, no Ray)."""

    def fit(
        data: RecommenderData, train: np.ndarray, val: np.ndarray, cfg: RecommenderConfig
    ) -> tuple[dict[str, Any], list[dict[str, float]]]:
        history: list[dict[str, float]] = []
        state = train_recommender(
            data, train, val, cfg, device=device, report=lambda m, _s: history.append(m)
        )
        if state is None:
            raise RuntimeError("training kept no epoch")
        return state, history

    return fit


def train_recommender_model(
    labels_dir: Path,
    out: Path,
    cfg: RecommenderConfig,
    fit: Fit,
    *,
    backend: str,
    backbone: str = DEFAULT_BACKBONE,
    val_fraction: float = 0.15,
) -> dict[str, Any]:
    """Trains on every label's workload but a validation share (for the epoch), writes the model directory and
    returns its metrics.

    Raises:
        KnobrayError: Missing or empty labels, an unknown engine, a backbone that is not a local model.
    """
    labels = read_labels(labels_dir)
    t0 = time.perf_counter()
    data = build_data(labels, TextBackbone(backbone))
    encode_s = time.perf_counter() - t0
    if len(set(data.workload_ids.tolist())) < 2:
        raise KnobrayError(
            "the labels cover one workload; training needs at least two (one is held out to validate)"
        )
    in_val = grouped_validation(data.workload_ids, val_fraction, cfg.seed)
    train, val = np.flatnonzero(~in_val), np.flatnonzero(in_val)
    t1 = time.perf_counter()
    state, history = fit(data, train, val, cfg)
    seconds = time.perf_counter() - t1
    metrics = {
        "version": f"recommender-{time.strftime('%Y%m%d')}-{len(labels)}",
        "backend": backend,
        "backbone": backbone,
        "train_seconds": seconds,
        "encode_seconds": encode_s,
        "epochs_run": len(history),
        "best_epoch": state["epoch"],
        "labels": len(labels),
        "samples": len(data),
        "workloads": len(set(data.workload_ids.tolist())),
        "validation": state["validation"],
        "chance_accuracy": float(np.mean([1.0 / c for c in data.bucket_counts])),
        "labels_dir": str(labels_dir),
        "config": cfg.to_dict(),
    }
    Recommender({**state, "backbone": backbone}).save(out, metrics, {**state, "backbone": backbone})
    return metrics


def make_labels(
    corpus_dir: Path,
    out: Path,
    *,
    extra: Sequence[WorkloadInput] = (),
    cost_model: Any = None,
    optimizer: str = "batch",
    trials: int = 1024,
    seed: int = 0,
    on_label: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Measured and multi-step labels from the corpus, and surrogate labels (``optimizer`` against
    ``cost_model``) for each of ``extra``; writes the label directory and returns its summary."""
    corpus = Corpus(corpus_dir)
    corpus.check_version()
    labels = measured_labels(corpus, seed=seed)
    if extra:
        if cost_model is None:
            raise ValueError("surrogate labels need a cost model")
        labels += surrogate_labels(
            cost_model.predict, extra, optimizer=optimizer, trials=trials, seed=seed, on_label=on_label
        )
    meta = {"corpus": str(corpus_dir), "optimizer": optimizer, "trials": trials,
            "cost_model": getattr(cost_model, "version", None)}  # fmt: skip
    write_labels(labels, out, meta)
    return json.loads((out / "labels.json").read_text())
