"""One training job for one (benchmark, scale): data, split, baselines, training, test evaluation, metrics.

How the model is fitted is injected (``fit``): in one process (:func:`fit_locally`) or on Ray Train workers
(:mod:`trainables.train`). Everything else, including the one evaluation on the test workloads with the
validation-selected checkpoint, happens here, the same way for both.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainables.lakehelm import (
    Split,
    baselines,
    describe_choice,
    load_dataset,
    sample_workloads,
    split_queries,
)
from trainables.moe._features import PreparedData, prepare
from trainables.moe._loop import MoEConfig, choose_records, load_model, score, train_moe
from trainables.moe._selector import MoESelector

logger = logging.getLogger(__name__)

TEST_WORKLOADS = 50
# Fitting: (data, split, config) -> (validation-selected checkpoint state, per-epoch history)
Fit = Callable[[PreparedData, Split, MoEConfig], tuple[dict[str, Any], list[dict[str, float]]]]


@dataclass(frozen=True)
class MoEJob:
    """What to train and where to write it."""

    data: Path
    benchmark: str
    sf: int
    out: Path
    config: MoEConfig
    min_latency_ms: float = 1500.0


def fit_locally(device: str = "cpu") -> Fit:
    """Fits in this process (plain PyTorch, no Ray): the path used to check GPUs on machines without Ray."""

    def fit(
        data: PreparedData, split: Split, cfg: MoEConfig
    ) -> tuple[dict[str, Any], list[dict[str, float]]]:
        outcome = train_moe(data, split, cfg, device=device)
        assert outcome.state is not None, "training reported no epoch"
        return outcome.state, outcome.history

    return fit


def run_job(job: MoEJob, fit: Fit, *, backend: str) -> dict[str, Any]:
    """Trains, evaluates on test once, writes ``metrics.json``, ``model.pt``, ``selector.pt`` and ``choices.json``
    to ``job.out``."""
    ds = load_dataset(job.data, job.benchmark, job.sf, min_latency_ms=job.min_latency_ms)
    data = prepare(ds)
    split = split_queries(len(ds.queries), job.config.seed)
    test_workloads = sample_workloads(split.test, TEST_WORKLOADS, seed=job.config.seed + 104729)
    base = baselines(ds, split.train, test_workloads)
    t0 = time.perf_counter()
    state, history = fit(data, split, job.config)
    train_seconds = time.perf_counter() - t0
    model = load_model(state)
    known = np.zeros(data.n_queries, bool)
    known[list(split.train)] = True
    chosen = choose_records(model, data, split.test, state["mode"], known)
    test_ratio = score(data, chosen, test_workloads)
    job.out.mkdir(parents=True, exist_ok=True)
    torch.save(state, job.out / "model.pt")
    MoESelector.build(ds, data, state, known).save(job.out)  # what serving loads: chooses for new workloads
    choices = [describe_choice(ds, rec).__dict__ for _, rec in sorted(chosen.items())]
    (job.out / "choices.json").write_text(json.dumps(choices, indent=1) + "\n")
    metrics = {
        "benchmark": ds.benchmark,
        "sf": ds.sf,
        "test_ratio": test_ratio,
        "val_ratio": state["val_ratio"],
        "best_fixed_ratio": base["best_fixed"]["ratio"],
        "best_fixed_combo_tuned_ratio": base["best_fixed_combo_tuned"]["ratio"],
        "baselines": base,
        "selection_mode": state["mode"],
        "best_epoch": state["epoch"],
        "epochs": job.config.epochs,
        "train_seconds": train_seconds,
        "backend": backend,
        "queries": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        "test_workloads": len(test_workloads),
        "dataset": ds.summary(),
        "dropped_rows": ds.dropped,
        "config": job.config.to_dict(),
        "history": history,
    }
    (job.out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str) + "\n")
    logger.info(
        "%s sf%s: test ratio %.3f (val %.3f, best fixed %.3f) in %.0fs",
        ds.benchmark, ds.sf, test_ratio, state["val_ratio"], base["best_fixed"]["ratio"], train_seconds,
    )  # fmt: skip
    return metrics
