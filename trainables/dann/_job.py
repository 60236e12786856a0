"""Training the shipped kind of cost model from a corpus: data, split, fit (Ray Train or in process), save."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raytune.corpus import Corpus
from trainables.dann._costmodel import CostModel
from trainables.dann._data import DannData, Split, load_data, make_split
from trainables.dann._embed import PlanEmbedder
from trainables.dann._evaluate import score
from trainables.dann._loop import DannConfig, predict_rows, tensors, train_dann

Fit = Callable[[DannData, Split, DannConfig], tuple[dict[str, Any], list[dict[str, float]]]]


def fit_locally(device: str = "cpu") -> Fit:
    """Fits in this process (plain PyTorch, no Ray)."""

    def fit(data: DannData, split: Split, cfg: DannConfig) -> tuple[dict[str, Any], list[dict[str, float]]]:
        outcome = train_dann(data, split, cfg, device=device)
        if outcome.state is None:
            raise RuntimeError("training reported no epoch")
        return outcome.state, outcome.history

    return fit


def evaluate_state(state: dict[str, Any], data: DannData, rows: np.ndarray) -> dict[str, Any]:
    """Scores a trained state on ``rows`` (mean latency in seconds, grouped by workload and domain)."""
    model = CostModel(state)
    x = tensors(data, state["stats"], torch.device("cpu"))
    pred = predict_rows(model.net, x, rows)
    s = state["stats"]
    pred_s = np.exp(pred * s["y_sd"][0] + s["y_mean"][0] + data.anchor[rows])
    true_s = np.exp(data.y[rows])
    groups = np.array([f"{w}|{d}" for w, d in zip(data.workload_ids[rows], data.domain[rows], strict=True)])
    return score(pred_s, true_s, groups, data.domain[rows], data.domains)


def train_cost_model(
    corpus_dir: Path,
    out: Path,
    cfg: DannConfig,
    fit: Fit,
    *,
    backend: str,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Trains on every workload of the corpus but a validation share (for the epoch), writes the model
    directory and returns its metrics.

    Raises:
        KnobrayError: A missing or unreadable corpus, or a domain without labels.
    """
    corpus = Corpus(corpus_dir)
    corpus.check_version()
    data = load_data(corpus, embed or PlanEmbedder())
    split = make_split(data, np.zeros(0, dtype=int), label_fraction=cfg.label_fraction, seed=cfg.seed)
    t0 = time.perf_counter()
    state, history = fit(data, split, cfg)
    seconds = time.perf_counter() - t0
    metrics = {
        "version": f"dann-{time.strftime('%Y%m%d')}-{len(data)}",
        "backend": backend,
        "train_seconds": seconds,
        "epochs_run": len(history),
        "best_epoch": state["epoch"],
        "samples": len(data),
        "domains": data.domains,
        "source_domain": data.domains[split.source],
        "label_fraction": cfg.label_fraction,
        "workloads": len(set(data.workload_ids.tolist())),
        "corpus": str(corpus_dir),
        "corpus_schema_version": corpus.manifest().get("schema_version"),
        "validation": evaluate_state(state, data, split.val),
        "config": cfg.to_dict(),
    }
    model = CostModel({**state, "version": metrics["version"]})
    model.save(out, metrics)
    return metrics
