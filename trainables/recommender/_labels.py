"""The recommender's training labels: for each workload and domain (engine and slot shape), a good configuration.

Three kinds, E2ETune's:

- ``measured``: the best configuration measured in the corpus for the workload (preferred where it exists);
- ``surrogate``: the best configuration a search finds against the cost model's predictions, for workloads
  the corpus never measured: a batched search (``batch``: thousands of predictions in a few calls) or one of
  knobray's optimizers (``tpe``, ``hebo``, ``smac``) through Ray Tune's searcher interface;
- ``step``: multi-step pairs from the corpus's histories: (a measured configuration and its metrics) -> the
  workload's best, for configurations the best beat.

A label set is a JSON-lines file (``labels.jsonl``) beside a ``labels.json`` summary; each line holds the
workload's inputs, so that training needs neither the corpus nor a server.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from raytune.corpus import Corpus
from raytune.errors import KnobrayError
from trainables.dann._data import workload_inputs
from trainables.dann._features import WorkloadInput

logger = logging.getLogger(__name__)

LABELS_FILE = "labels.jsonl"
SUMMARY_FILE = "labels.json"
KINDS = ("measured", "surrogate", "step")


@dataclass(frozen=True)
class Label:
    """One training example: the workload (and, for ``step``, the current configuration) -> a configuration.

    Attributes:
        kind: ``measured``, ``surrogate`` or ``step``.
        workload: The workload's inputs in its domain.
        config: The configuration to recommend.
        ratio: Its latency over the default's (measured, or predicted for ``surrogate``).
        current: For ``step``: the configuration being improved.
        current_metrics: Its internal counters per second.
        current_ratio: Its latency over the default's.
    """

    kind: str
    workload: WorkloadInput
    config: dict[str, Any]
    ratio: float
    current: dict[str, Any] | None = None
    current_metrics: dict[str, float] = field(default_factory=dict)
    current_ratio: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "workload": _workload_json(self.workload)}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Label:
        return cls(**{**row, "workload": WorkloadInput(**row["workload"])})


def _workload_json(w: WorkloadInput) -> dict[str, Any]:
    d = asdict(w)
    d["features"], d["plans"], d["default_metrics"] = dict(w.features), dict(w.plans), dict(w.default_metrics)
    return d


def domain_of_input(w: WorkloadInput) -> str:
    return f"{w.engine}/{w.cpus}cpu-{w.memory_bytes / 1024**3:.1f}g"


def measured_labels(corpus: Corpus, *, steps_per_workload: int = 4, seed: int = 0) -> list[Label]:
    """Per (workload, domain) of the corpus: its best measured configuration, and up to ``steps_per_workload``
    multi-step pairs from configurations it beat by more than 5%."""
    inputs = workload_inputs(corpus)
    runs: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for m in corpus.measurements():
        if m["status"] == "SUCCEEDED" and m["kind"] == "olap" and (m["mean_latency_s"] or 0) > 0:
            runs[(m["workload_id"], m["domain"])].append(m)
    rng = np.random.default_rng(seed)
    out: list[Label] = []
    for key, rows in sorted(runs.items()):
        w = inputs.get(key)
        if w is None:
            continue
        default = w.default_latency_s
        tuned = [r for r in rows if not r["is_default"]] or rows
        best = min(tuned, key=lambda r: r["mean_latency_s"])
        out.append(Label("measured", w, dict(best["config"]), best["mean_latency_s"] / default))
        beaten = [r for r in tuned if r is not best and r["mean_latency_s"] > 1.05 * best["mean_latency_s"]]
        for i in rng.permutation(len(beaten))[:steps_per_workload]:
            r = beaten[int(i)]
            out.append(
                Label(
                    "step",
                    w,
                    dict(best["config"]),
                    best["mean_latency_s"] / default,
                    dict(r["config"]),
                    dict(r["metrics_per_s"]),
                    r["mean_latency_s"] / default,
                )  # fmt: skip
            )
    if not out:
        raise KnobrayError(f"corpus {corpus.path} has no successful OLAP measurement to label; collect one")
    return out


Predict = Callable[[Sequence[dict[str, Any]], WorkloadInput], Sequence[float]]


def surrogate_best(
    predict: Predict,
    w: WorkloadInput,
    *,
    optimizer: str = "tpe",
    trials: int = 200,
    seed: int = 0,
) -> tuple[dict[str, Any], float]:
    """The best configuration ``optimizer`` finds in ``trials`` predictions for ``w``, and its predicted
    latency over the default's (the default is the first point the optimizer sees)."""
    from raytune.optimizers import decode, encode, param_specs
    from raytune.tune._searchers import make_search_alg, param_space
    from trainables.dann._features import slot_space

    logging.getLogger("optuna").setLevel(logging.WARNING)
    space = slot_space(w.engine, w.cpus, w.memory_bytes)
    specs = param_specs(space)
    default = float(predict([{}], w)[0])
    alg = make_search_alg(
        optimizer, specs, mode="min", seed=seed, max_concurrent=1, n_trials=trials,
        known_points=[encode(space, {})], known_scores=[default],
    )  # fmt: skip
    alg.set_search_properties(metric="score", mode="min", config=param_space(specs))
    best_config: dict[str, Any] = {}
    best = default
    for i in range(trials):
        params = alg.suggest(f"t{i}")
        if not isinstance(params, dict):
            raise RuntimeError(f"optimizer {optimizer} suggested nothing at trial {i}")
        config = decode(space, params)
        value = float(predict([config], w)[0])
        alg.on_trial_complete(f"t{i}", result={"score": value})
        if value < best:
            best_config, best = config, value
    return best_config, best / default


def batched_best(
    predict: Predict, w: WorkloadInput, *, samples: int = 1024, rounds: int = 3, seed: int = 0
) -> tuple[dict[str, Any], float]:
    """The best configuration of a batched search against the cost model: ``samples`` Latin-hypercube
    configurations in one prediction call, then ``rounds`` of ``samples / 4`` Gaussian neighbours of the best 8
    so far; and its predicted latency over the default's. A thousand predictions cost the cost model what one
    optimizer suggestion costs TPE, so this searches far more of the space per second."""
    from raytune.corpus import latin_hypercube, perturbations
    from raytune.optimizers import decode, encode, param_specs
    from trainables.dann._features import slot_space

    space = slot_space(w.engine, w.cpus, w.memory_bytes)
    specs = param_specs(space)
    default = float(predict([{}], w)[0])
    params = latin_hypercube(specs, samples, seed)
    configs = [decode(space, p) for p in params]
    values = list(np.asarray(predict(configs, w), dtype=float))
    for r in range(rounds):
        top = np.argsort(values)[:8]
        around = [
            q
            for i in top
            for q in perturbations(specs, encode(space, configs[i]), samples // 32, seed + 97 * r + int(i))
        ]
        more = [decode(space, p) for p in around]
        configs += more
        values += list(np.asarray(predict(more, w), dtype=float))
    best = int(np.argmin(values))
    if values[best] >= default:
        return {}, 1.0
    return configs[best], values[best] / default


def surrogate_labels(
    predict: Predict,
    workloads: Iterable[WorkloadInput],
    *,
    optimizer: str = "tpe",
    trials: int = 200,
    seed: int = 0,
    on_label: Callable[[Label], None] | None = None,
) -> list[Label]:
    """A ``surrogate`` label for each workload (its own search against the cost model: ``optimizer`` ``batch``
    with ``trials`` Latin-hypercube samples, or a knobray optimizer with ``trials`` predictions)."""
    out = []
    for i, w in enumerate(workloads):
        if optimizer == "batch":
            config, ratio = batched_best(predict, w, samples=trials, seed=seed + i)
        else:
            config, ratio = surrogate_best(predict, w, optimizer=optimizer, trials=trials, seed=seed + i)
        label = Label("surrogate", w, config, ratio)
        out.append(label)
        if on_label is not None:
            on_label(label)
    return out


def write_labels(labels: Sequence[Label], out: Path, meta: dict[str, Any]) -> Path:
    """Writes ``labels.jsonl`` and the ``labels.json`` summary (counts per kind and domain, ``meta``)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / LABELS_FILE).open("w") as f:
        for label in labels:
            f.write(json.dumps(label.to_json(), default=float) + "\n")
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for label in labels:
        counts[domain_of_input(label.workload)][label.kind] += 1
    ratios = [label.ratio for label in labels if label.kind != "step"]
    summary = {
        **meta,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "labels": len(labels),
        "per_domain": {d: dict(c) for d, c in sorted(counts.items())},
        "median_ratio": statistics.median(ratios) if ratios else None,
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return out / LABELS_FILE


def read_labels(path: Path) -> list[Label]:
    """The labels in ``path`` (a label directory or its ``labels.jsonl``).

    Raises:
        KnobrayError: No label file there, or an empty one.
    """
    file = path / LABELS_FILE if path.is_dir() else path
    if not file.is_file():
        raise KnobrayError(
            f"{path} holds no labels ({LABELS_FILE}); make them with python -m trainables.train labels"
        )
    labels = list(_lines(file))
    if not labels:
        raise KnobrayError(f"{file} is empty; make labels with python -m trainables.train labels")
    return labels


def _lines(file: Path) -> Iterator[Label]:
    with file.open() as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield Label.from_json(json.loads(line))
                except (ValueError, TypeError, KeyError) as exc:
                    raise KnobrayError(f"{file}:{n} is not a label ({exc}); regenerate the labels") from None
