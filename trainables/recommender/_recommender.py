"""A trained recommender as a directory, loaded for inference: sample candidate configurations, rank them with
the cost model, return the best; multi-step mode feeds a measured recommendation back and recommends again.

A model directory holds ``model.pt`` (the trained layers, the architecture, the backbone's name, the input
statistics) and ``metrics.json``. ``Recommender.load()`` without a directory returns the model shipped with
knobray (``trainables/recommender/pretrained``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from raytune.errors import KnobrayError
from trainables.dann._features import ENGINES, WorkloadInput
from trainables.recommender._backbone import TextBackbone
from trainables.recommender._buckets import KnobBuckets
from trainables.recommender._data import knob_ids, model_inputs
from trainables.recommender._inputs import Step
from trainables.recommender._loop import normalise, pad_states
from trainables.recommender._model import RecommenderArch, RecommenderNet

logger = logging.getLogger(__name__)

PRETRAINED = Path(__file__).resolve().parent / "pretrained"


@dataclass(frozen=True)
class Recommendation:
    """A recommended configuration, its predicted latency over the default's, and where it came from."""

    config: dict[str, Any]
    predicted_ratio: float
    source: str = "sampled"

    @property
    def predicted_gain_pct(self) -> float:
        return 100.0 * (1.0 - self.predicted_ratio)


@dataclass(frozen=True)
class SampleRequest:
    """One workload to sample ``n`` candidate configurations for (``seed`` fixes the non-greedy ones)."""

    workload: WorkloadInput
    step: Step | None = None
    n: int = 8
    seed: int = 0


def rank_candidates(
    configs: Sequence[dict[str, Any]], predicted: Sequence[float] | None, top: int
) -> list[Recommendation]:
    """The ``top`` candidates by predicted latency over the default's (``predicted``: the cost model's latency
    of the default, then of each candidate); without predictions, in sampling order with ratio 1."""
    if predicted is None:
        return [Recommendation(c, 1.0, "greedy" if i == 0 else "sampled") for i, c in enumerate(configs)][
            :top
        ]
    values = np.asarray(predicted, dtype=float)
    ratios = values[1:] / values[0]
    order = np.argsort(ratios, kind="stable")
    return [
        Recommendation(configs[i], float(ratios[i]), "greedy" if i == 0 else "sampled") for i in order[:top]
    ]


@dataclass
class StepResult:
    """One step of a multi-step recommendation: what was recommended, and what a run under it showed."""

    recommendation: Recommendation
    measured_ratio: float
    metrics: dict[str, float] = field(default_factory=dict)


class Recommender:
    """Workload -> knob configurations for one engine and slot shape."""

    def __init__(self, state: dict[str, Any], path: Path | None = None) -> None:
        self.arch = RecommenderArch.from_dict(state["arch"])
        self.net = RecommenderNet(self.arch)
        self.net.load_state_dict({k: v.float() for k, v in state["model"].items()})
        self.net.eval()
        self.stats = {k: np.asarray(v, dtype=np.float32) for k, v in state["stats"].items()}
        self.backbone = TextBackbone(state.get("backbone", "minilm-l6-v2"))
        self.path = path
        self.version = str(state.get("version") or (path.name if path else "in-memory"))
        self.engines = sorted(state.get("engines") or {v.split(".")[0] for v in self.arch.vocabulary})

    @classmethod
    def load(cls, path: Path | None = None) -> Recommender:
        """The model in ``path`` (default: the one shipped with knobray).

        Raises:
            KnobrayError: Not a recommender directory.
        """
        where = Path(path) if path is not None else PRETRAINED
        file = where / "model.pt"
        if not file.is_file():
            raise KnobrayError(
                f"{where} holds no recommender (no model.pt); train one with python -m trainables.train recommender"
            )
        state = torch.load(file, map_location="cpu", weights_only=False)
        if "vocabulary" not in state.get("arch", {}):
            raise KnobrayError(
                f"{file} is not a recommender model (a cost model?); pass a recommender directory"
            )
        meta = where / "metrics.json"
        if meta.is_file():
            state.setdefault("version", json.loads(meta.read_text()).get("version"))
        return cls(state, where)

    def check(self, w: WorkloadInput) -> list[int]:
        """The vocabulary ids of ``w``'s engine's knobs.

        Raises:
            KnobrayError: An unknown engine, one the model was not trained on, or another knob set.
        """
        if w.engine not in ENGINES:
            raise KnobrayError(f"unknown engine {w.engine!r}; the recommender knows {', '.join(ENGINES)}")
        if w.engine not in self.engines:
            raise KnobrayError(
                f"this recommender was trained for {', '.join(self.engines)}, not {w.engine}; "
                "pass a model trained on that engine"
            )
        if not w.features.get("num_queries"):
            raise KnobrayError("the workload has no queries; give a query file with at least one statement")
        return knob_ids(self.arch.vocabulary, w.engine, KnobBuckets(w.engine, w.cpus, w.memory_bytes).knobs)

    def sample(
        self, w: WorkloadInput, step: Step | None = None, *, n: int = 8, seed: int = 0
    ) -> list[dict[str, Any]]:
        """``n`` candidate configurations: the most likely buckets first, then samples (duplicates removed)."""
        return self.sample_many([SampleRequest(w, step, n, seed)])[0]

    def sample_many(self, requests: Sequence[SampleRequest]) -> list[list[dict[str, Any]]]:
        """:meth:`sample` for many workloads at once: their texts are encoded together and the decoder writes
        every candidate of every request in one batch per engine. Each request's candidates depend only on
        it (its seed draws its own uniforms), never on the rest of the batch."""
        ids = [self.check(r.workload) for r in requests]
        out: list[list[dict[str, Any]]] = [[] for _ in requests]
        by_knobs: dict[tuple[int, ...], list[int]] = {}
        for i, knob_list in enumerate(ids):
            by_knobs.setdefault(tuple(knob_list), []).append(i)
        for knob_list, members in by_knobs.items():
            for i, rows in zip(
                members, self._sample_group([requests[i] for i in members], knob_list), strict=True
            ):
                r = requests[i]
                kb = KnobBuckets(r.workload.engine, r.workload.cpus, r.workload.memory_bytes)
                seen: set[tuple[int, ...]] = set()
                for row in rows:
                    if tuple(row) not in seen:
                        seen.add(tuple(row))
                        out[i].append(kb.from_buckets(row))
        return out

    def _sample_group(
        self, requests: Sequence[SampleRequest], knob_list: tuple[int, ...]
    ) -> list[list[list[int]]]:
        """Bucket rows per request, for requests whose engines share one knob list."""
        inputs = [model_inputs(self.arch.vocabulary, r.workload, r.step) for r in requests]
        states, pad = pad_states(self.backbone([text for text, _ in inputs]), torch.device("cpu"))
        numeric = np.stack([x for _, x in inputs])
        x = torch.as_tensor(normalise(numeric, self.stats["numeric_mean"], self.stats["numeric_sd"]))
        counts = [max(1, r.n) for r in requests]
        uniforms = []
        for r, n in zip(requests, counts, strict=True):
            draws = torch.rand((n - 1, len(knob_list)), generator=torch.Generator().manual_seed(r.seed))
            uniforms.append(torch.cat([torch.full((1, len(knob_list)), float("nan")), draws]))
        which = torch.repeat_interleave(torch.arange(len(requests)), torch.as_tensor(counts))
        with torch.no_grad():
            memory, mpad = self.net.encode(states, pad, x)
            knobs = torch.as_tensor([knob_list]).expand(len(which), -1)
            rows = self.net.sample(memory, mpad, knobs, torch.cat(uniforms), which).tolist()
        starts = np.cumsum([0, *counts])
        return [rows[a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]

    def recommend(
        self,
        w: WorkloadInput,
        step: Step | None = None,
        *,
        cost_model: Any = None,
        candidates: int = 8,
        top: int = 3,
        seed: int = 0,
    ) -> list[Recommendation]:
        """The ``top`` of ``candidates`` sampled configurations, ranked by ``cost_model`` (its predicted latency
        over the default's); without a cost model, the most likely first, with no predicted gain (ratio 1)."""
        configs = self.sample(w, step, n=candidates, seed=seed)
        predicted = None if cost_model is None else cost_model.predict([{}, *configs], w)
        return rank_candidates(configs, predicted, top)

    def recommend_steps(
        self,
        w: WorkloadInput,
        measure: Callable[[dict[str, Any]], tuple[float, dict[str, float]]],
        *,
        steps: int,
        cost_model: Any = None,
        candidates: int = 8,
        seed: int = 0,
    ) -> list[StepResult]:
        """``steps`` rounds of: recommend, measure once (``measure(config) -> (latency over the default's,
        metrics per second)``), feed the measurement back as the current configuration."""
        history: list[StepResult] = []
        step: Step | None = None
        for i in range(steps):
            rec = self.recommend(w, step, cost_model=cost_model, candidates=candidates, top=1, seed=seed + i)[
                0
            ]
            ratio, metrics = measure(rec.config)
            history.append(StepResult(rec, ratio, metrics))
            best = min(history, key=lambda h: h.measured_ratio)
            step = Step(best.recommendation.config, best.metrics, best.measured_ratio)
        return history

    def save(self, path: Path, metrics: dict[str, Any], state: dict[str, Any]) -> Path:
        """Writes the model directory: trained layers in float16 (the backbone is not copied), and metrics."""
        path.mkdir(parents=True, exist_ok=True)
        slim = {**state, "model": {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()},
                "version": metrics.get("version")}  # fmt: skip
        torch.save(slim, path / "model.pt")
        (path / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str) + "\n")
        return path
