"""A trained MoE as a self-contained chooser for new workloads: Spark plans in, engine, lake format and config out.

Training scores choices among the records measured for each test query; a new workload has no records, so the
selector carries what it needs to choose among every config measured in training: the plan vocabulary, each
config's vector with its training priors, and the checkpoint's selection mode. ``selector.pt`` sits beside
``model.pt`` in a training run's output directory; ``MoESelector.load()`` without a directory returns the one
shipped with knobray (``trainables/moe/pretrained``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raytune.errors import KnobrayError
from trainables.lakehelm import LatencyDataset, parse_spark_plan
from trainables.moe._features import (
    PRIOR_CLIPPED_RATIO,
    PlanVocabulary,
    PreparedData,
    config_table_priors,
    flatten_trees,
)
from trainables.moe._loop import load_model

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
SELECTOR_FILE = "selector.pt"
MAX_PLANS = 64


@dataclass(frozen=True)
class Selection:
    """The engine, lake format and config chosen for a workload, with the model's predicted ratio to the best
    (1.0 = as fast as the best measured choice would be), and how it was chosen."""

    engine: str
    lake: str
    config: str
    predicted_ratio: float
    mode: str


class MoESelector:
    """Workload (Spark plans) -> (engine, lake, config) among the configs measured in training."""

    def __init__(self, bundle: dict[str, Any], path: Path | None = None) -> None:
        self.bundle = bundle
        state = bundle["state"]
        self.model = load_model({**state, "model": {k: v.float() for k, v in state["model"].items()}}).eval()
        self.mode: str = bundle["state"]["mode"]
        self.vocab = PlanVocabulary(
            tuple(bundle["kinds"]), tuple(bundle["tables"]),
            {k: tuple(v) for k, v in bundle["table_features"].items()},
        )  # fmt: skip
        self.engines: list[str] = list(bundle["engines"])
        self.lakes: list[str] = list(bundle["lakes"])
        self.conf_engine = torch.as_tensor(bundle["conf_engine"], dtype=torch.long)
        self.conf_lake = torch.as_tensor(bundle["conf_lake"], dtype=torch.long)
        self.conf_x = torch.as_tensor(np.asarray(bundle["conf_x"], dtype=np.float32))
        self.conf_text: list[str] = list(bundle["conf_text"])
        self.benchmark = f"{bundle['benchmark']} sf{bundle['sf']}"
        self.path = path
        self.version = str(bundle.get("version") or (path.name if path else "in-memory"))

    @classmethod
    def build(
        cls, ds: LatencyDataset, data: PreparedData, state: dict[str, Any], train_mask: np.ndarray
    ) -> MoESelector:
        """The selector of a trained checkpoint ``state`` (priors from the training queries only)."""
        assert data.vocab is not None, "prepare() sets the plan vocabulary"
        confs = np.unique(data.rec_conf)
        combos = ds.conf_combo[confs]
        first = {int(c): i for i, c in reversed(list(enumerate(data.rec_conf)))}
        conf_x = np.stack([data.rec_conf_x[first[int(c)]] for c in confs])
        priors = config_table_priors(data, train_mask, confs, combos)
        bundle = {
            "state": state, "benchmark": ds.benchmark, "sf": ds.sf,
            "kinds": list(data.vocab.kinds), "tables": list(data.vocab.tables),
            "table_features": {k: list(v) for k, v in data.vocab.table_features.items()},
            "engines": data.engines, "lakes": data.lakes,
            "conf_engine": data.combo_engine[combos].tolist(), "conf_lake": data.combo_lake[combos].tolist(),
            "conf_x": np.concatenate([conf_x, priors], axis=1).tolist(),
            "conf_text": [ds.conf_text[int(c)] for c in confs],
        }  # fmt: skip
        return cls(bundle)

    @classmethod
    def load(cls, path: Path | None = None) -> MoESelector:
        """The selector in ``path`` (default: the one shipped with knobray).

        Raises:
            KnobrayError: Not a MoE model directory.
        """
        where = Path(path) if path is not None else PRETRAINED
        file = where / SELECTOR_FILE
        if not file.is_file():
            raise KnobrayError(
                f"{where} holds no MoE selector (no {SELECTOR_FILE}); train one with python -m trainables.train moe"
            )
        bundle = torch.load(file, map_location="cpu", weights_only=False)
        meta = where / "metrics.json"
        if meta.is_file():
            metrics = json.loads(meta.read_text())
            bundle.setdefault("version", f"{metrics.get('benchmark')}-sf{metrics.get('sf')}-{where.name}")
        return cls(bundle, where)

    def save(self, path: Path) -> Path:
        """Writes ``selector.pt`` with float16 weights (the model is rebuilt in float32 on load)."""
        path.mkdir(parents=True, exist_ok=True)
        state = self.bundle["state"]
        weights = {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()}
        torch.save({**self.bundle, "state": {**state, "model": weights}}, path / SELECTOR_FILE)
        return path

    def encode(self, plans: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(query embeddings [Q, d], workload embedding [1, dw]) of Spark EXPLAIN texts.

        Raises:
            KnobrayError: No plans, too many, or a text without a logical or physical plan section.
        """
        if not plans:
            raise KnobrayError("no plans given; send one Spark EXPLAIN EXTENDED text per query")
        if len(plans) > MAX_PLANS:
            raise KnobrayError(f"{len(plans)} plans; send at most {MAX_PLANS} per workload")
        trees = {}
        for i, text in enumerate(plans):
            tree = parse_spark_plan(text)
            if tree is None:
                raise KnobrayError(
                    f"plan {i} has no 'Optimized Logical Plan' or 'Physical Plan' section; send Spark EXPLAIN "
                    "EXTENDED output"
                )
            trees[i] = tree
        node_x, left, right, owner = (torch.as_tensor(a) for a in flatten_trees(trees, self.vocab))
        n = len(plans)
        with torch.no_grad():
            qemb = self.model.encoder(
                node_x, left, right, owner, torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
            )
            wl = self.model.pool(qemb[None], torch.ones(1, n, dtype=torch.bool))
        return qemb, wl

    @torch.no_grad()
    def select(self, plans: Sequence[str]) -> Selection:
        """The choice for a workload of ``plans`` (one Spark EXPLAIN text per query), by the checkpoint's mode:
        ``prior`` the config best on the training queries; ``joint`` the config with the lowest predicted mean
        ratio over the queries; ``gate`` the gates' engine and lake, then the best predicted config on them."""
        qemb, wl = self.encode(plans)
        if self.mode == "prior":
            prior = self.conf_x[:, -3 + PRIOR_CLIPPED_RATIO]
            best = int(torch.argmin(prior))
            return self._selection(best, float(prior[best]))
        ratios = self._predicted_ratios(qemb, wl)  # [C]
        candidates = torch.arange(len(self.conf_text))
        if self.mode == "gate":
            pe, pl = (torch.softmax(g, dim=1)[0] for g in self.model.gates(wl))
            combo_p = pe[self.conf_engine] * pl[self.conf_lake]
            candidates = candidates[combo_p == combo_p.max()]
        best = int(candidates[torch.argmin(ratios[candidates])])
        return self._selection(best, float(ratios[best]))

    def _predicted_ratios(self, qemb: torch.Tensor, wl: torch.Tensor) -> torch.Tensor:
        """Predicted ratio of every config, averaged over the workload's queries."""
        pred = self.model.predict_grid(wl, qemb, self.conf_engine, self.conf_lake, self.conf_x)  # [Q, C]
        return torch.exp(pred).mean(dim=0)

    def _selection(self, conf: int, ratio: float) -> Selection:
        return Selection(
            engine=self.engines[int(self.conf_engine[conf])],
            lake=self.lakes[int(self.conf_lake[conf])],
            config=self.conf_text[conf],
            predicted_ratio=ratio,
            mode=self.mode,
        )
