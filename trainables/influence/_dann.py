"""knobray's cost-model network on Berkeley DB runs, for comparison with the influence diagram: the DANN
architecture (feature-group tokens, a transformer encoder, a regression head) trained on the same runs to predict
ln(throughput) from the workload characteristics and the four knobs, picking the combination with the best
prediction. One engine and one shape make one domain, so the domain-adaptation losses are off (the network's
plain variant); 15% of the training workloads choose the epoch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from trainables.dann._data import DannData, Split
from trainables.dann._loop import DannConfig, normalise, train_dann
from trainables.dann._model import DANNArch, DANNCostModel
from trainables.influence._data import Examples
from trainables.influence._structure import COMBINATIONS, DECISIONS, MIX

GROUP_SIZES = (1, 1, 1, len(DECISIONS["deadlock_policy"]))  # page size, min_keys, DB_RMW, policy (one-hot)


def knob_features(states: Mapping[str, str]) -> list[float]:
    policy = [float(states["deadlock_policy"] == p) for p in DECISIONS["deadlock_policy"]]
    return [float(states["page_size"] == "2048"), float(states["min_keys"] != "2"), float(states["db_rmw"] == "on"),
            *policy]  # fmt: skip


def _data(workload: np.ndarray, knobs: np.ndarray, y: np.ndarray, groups: np.ndarray) -> DannData:
    n = len(y)
    return DannData(knobs, np.ones_like(knobs), workload, np.zeros((n, 1)), np.zeros((n, 0)), y, np.zeros(n),
                    np.zeros(n, dtype=np.int64), ["berkeleydb"], groups, [{} for _ in range(n)], np.ones(n),
                    GROUP_SIZES)  # fmt: skip


class DannPicker:
    """Trains the network on ``examples`` and picks, per workload, the combination of highest predicted
    throughput."""

    def __init__(self, examples: Examples, *, epochs: int = 150, seed: int = 0) -> None:
        workload = np.column_stack([examples.columns[m].astype(float) for m in MIX])
        states = [{d: str(examples.columns[d][i]) for d in DECISIONS} for i in range(len(examples))]
        knobs = np.array([knob_features(s) for s in states], dtype=np.float32)
        groups = np.array([",".join(f"{v:g}" for v in row) for row in workload])
        data = _data(
            workload, knobs, np.log(np.maximum(examples.throughput, 1e-3)), groups
        )  # 0 tps: no commits
        rng = np.random.default_rng(seed)
        unique = np.unique(groups)
        val_groups = set(rng.choice(unique, max(1, len(unique) * 15 // 100), replace=False))
        is_val = np.array([g in val_groups for g in groups])
        split = Split(np.flatnonzero(~is_val), np.ones((~is_val).sum(), dtype=bool), np.flatnonzero(is_val),
                      np.zeros(0, dtype=np.int64), 0)  # fmt: skip
        cfg = replace(DannConfig(), epochs=epochs, adversarial=0.0, coral=0.0, seed=seed, patience=40)
        outcome = train_dann(data, split, cfg)
        assert outcome.state is not None
        self.state: dict[str, Any] = outcome.state
        self.model = DANNCostModel(DANNArch(**{**outcome.state["arch"], "group_sizes": GROUP_SIZES}))
        self.model.load_state_dict(outcome.state["model"])
        self.model.eval()
        self.combos = COMBINATIONS
        self.knobs = torch.as_tensor(np.array([knob_features(c) for c in self.combos], dtype=np.float32))

    def predict(self, mix: Mapping[str, float]) -> np.ndarray:
        """Predicted ln(throughput) of every combination (``self.combos`` order)."""
        stats = self.state["stats"]
        w = normalise(np.array([[float(mix[m]) for m in MIX]] * len(self.combos)), stats["workload_mean"],
                      stats["workload_sd"])  # fmt: skip
        n = len(self.combos)
        with torch.no_grad():
            cost, _, _ = self.model(self.knobs, torch.ones_like(self.knobs), torch.as_tensor(w),
                                    torch.zeros((n, 0)), torch.zeros((n, 1)))  # fmt: skip
        return cost.numpy() * stats["y_sd"][0] + stats["y_mean"][0]

    def pick(self, mix: Mapping[str, float]) -> dict[str, str]:
        return self.combos[int(np.argmax(self.predict(mix)))]
