"""A trained DANN cost model as a directory, loaded for prediction (the search's surrogate backend, Serve).

A model directory holds ``model.pt`` (weights, architecture, input statistics), ``metrics.json`` (what it was
trained on and how it scored on validation) and ``model.json`` (the summary a user reads). ``CostModel.load()``
without a directory returns the model shipped with knobray.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raytune.errors import KnobrayError
from trainables.dann._embed import PlanEmbedder
from trainables.dann._features import ENGINES, WorkloadInput, build_rows
from trainables.dann._loop import normalise
from trainables.dann._model import DANNArch, DANNCostModel

PRETRAINED = Path(__file__).resolve().parent / "pretrained"


class CostModel:
    """Predicts the total latency (s) of a workload's queries under each of a list of configurations, as a
    ratio to the workload's latency under the default configuration (``WorkloadInput.default_latency_s``)."""

    objective_name = "total_latency_s"
    direction = "min"

    def __init__(self, state: dict[str, Any], path: Path | None = None) -> None:
        arch = dict(state["arch"])
        arch["group_sizes"] = tuple(arch["group_sizes"])
        self.arch = DANNArch(**arch)
        self.net = DANNCostModel(self.arch)
        self.net.load_state_dict(state["model"])
        self.net.eval()
        self.stats = {k: np.asarray(v, dtype=np.float32) for k, v in state["stats"].items()}
        self.domains: list[str] = list(state["domains"])
        self.path = path
        self.version = str(state.get("version") or (path.name if path else "in-memory"))
        self.embed = PlanEmbedder()

    @classmethod
    def load(cls, path: Path | None = None) -> CostModel:
        """The model in ``path`` (default: the one shipped with knobray).

        Raises:
            KnobrayError: Not a model directory.
        """
        where = Path(path) if path is not None else PRETRAINED
        file = where / "model.pt"
        if not file.is_file():
            raise KnobrayError(
                f"{where} holds no cost model (no model.pt); train one with python -m trainables.train dann"
            )
        state = torch.load(file, map_location="cpu", weights_only=False)
        if "vocabulary" in state.get("arch", {}):
            raise KnobrayError(f"{file} is a recommender, not a cost model; pass a cost model directory")
        if "anchor_mean" not in state.get("stats", {}):
            raise KnobrayError(
                f"{where} holds a cost model from an older knobray (absolute latency labels); retrain it with "
                "python -m trainables.train dann"
            )
        meta = where / "metrics.json"
        if meta.is_file():
            state.setdefault("version", json.loads(meta.read_text()).get("version"))
        return cls(state, where)

    def check(self, workload: WorkloadInput) -> None:
        """Raises a one-line ``KnobrayError`` for an engine the model does not know."""
        if workload.engine not in ENGINES:
            raise KnobrayError(
                f"unknown engine {workload.engine!r}; the cost model knows {', '.join(ENGINES)}"
            )
        engines = {d.split("/")[0] for d in self.domains}
        if workload.engine not in engines:
            raise KnobrayError(
                f"this cost model was trained on {', '.join(sorted(engines))} only, not {workload.engine}; "
                "train one on a corpus with that engine"
            )

    def predict(self, configs: Sequence[Mapping[str, Any]], workload: WorkloadInput) -> np.ndarray:
        """Predicted total latency in seconds of ``workload`` under each configuration (batched)."""
        return self.predict_many([(configs, workload)])[0]

    def predict_many(
        self, requests: Sequence[tuple[Sequence[Mapping[str, Any]], WorkloadInput]]
    ) -> list[np.ndarray]:
        """:meth:`predict` for many (configurations, workload) pairs in one forward pass."""
        for _, workload in requests:
            self.check(workload)
        sizes = [len(configs) for configs, _ in requests]
        if sum(sizes) == 0:
            return [np.zeros(0) for _ in requests]
        parts = [build_rows(configs, w) for configs, w in requests if configs]
        rows = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        plans = self.embed([w.plan_text() for configs, w in requests if configs])
        s = self.stats
        w = normalise(rows["workload"], s["workload_mean"], s["workload_sd"])
        h = normalise(rows["hardware"], s["hardware_mean"], s["hardware_sd"])
        plan = np.repeat(plans, [n for n in sizes if n], axis=0)
        with torch.inference_mode():
            cost, _, _ = self.net(
                torch.from_numpy(rows["knobs"]), torch.from_numpy(rows["masks"]),
                torch.from_numpy(w), torch.from_numpy(plan), torch.from_numpy(h),
            )  # fmt: skip
        log_latency = cost.numpy() * s["y_sd"][0] + s["y_mean"][0]
        out, start = [], 0
        for (_, workload), n in zip(requests, sizes, strict=True):
            queries = max(1, len(workload.plans) or int(workload.features.get("num_queries", 1)))
            out.append(np.exp(log_latency[start : start + n] + self.anchor(workload)) * queries)
            start += n
        return out

    def anchor(self, workload: WorkloadInput) -> float:
        """The log mean latency the prediction is relative to: the workload's under the default where known,
        else the training workloads' mean (then predictions rank configurations but their scale is rough)."""
        if workload.default_latency_s > 0:
            return float(np.log(workload.default_latency_s))
        return float(self.stats["anchor_mean"][0])

    def save(self, path: Path, metrics: dict[str, Any]) -> Path:
        """Writes the model directory (weights, metrics)."""
        path.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.net.state_dict(), "arch": self.arch.to_dict(),
            "stats": {k: v.tolist() for k, v in self.stats.items()}, "domains": self.domains,
            "version": metrics.get("version"),
        }  # fmt: skip
        torch.save(state, path / "model.pt")
        (path / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str) + "\n")
        return path
