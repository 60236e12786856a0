"""The corpus as arrays for the cost model, and the splits it is trained and evaluated on.

One sample is one successful measurement of a workload under a configuration in one domain (engine and slot
shape); its label is the log of the workload's mean query latency, learned relative to the workload's anchor:
the log of its mean latency under the default configuration in that domain (the median of its default runs),
which a user has from one run under the default. Splits are grouped by workload: a workload
is in train, validation or test for every domain at once, so no model is scored on a workload it has seen.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from raytune.corpus import Corpus
from raytune.errors import KnobrayError
from trainables.dann._features import WorkloadInput, build_rows


@dataclass
class DannData:
    """Arrays of every sample (rows aligned), and what each row is."""

    knobs: np.ndarray
    masks: np.ndarray
    workload: np.ndarray
    hardware: np.ndarray
    plan: np.ndarray
    y: np.ndarray  # log mean latency in seconds
    anchor: np.ndarray  # log mean latency in seconds under the default (the workload's, in the domain)
    domain: np.ndarray  # index into ``domains``
    domains: list[str]
    workload_ids: np.ndarray  # the grouping key
    configs: list[dict[str, Any]]
    n_queries: np.ndarray
    # sizes of the knob groups (one token each); None: the engine-generic groups of ``_features``
    group_sizes: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> DannData:
        return DannData(
            self.knobs[index],
            self.masks[index],
            self.workload[index],
            self.hardware[index],
            self.plan[index],
            self.y[index],
            self.anchor[index],
            self.domain[index],
            self.domains,
            self.workload_ids[index],
            [self.configs[i] for i in index],
            self.n_queries[index],
            self.group_sizes,
        )


def workload_inputs(corpus: Corpus) -> dict[tuple[str, str], WorkloadInput]:
    """(workload id, domain) -> what the model knows of that workload there (default metrics and latency: the
    median of its default runs); workloads never measured under the default there are left out."""
    metrics: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    latency: dict[tuple[str, str], list[float]] = defaultdict(list)
    shapes: dict[str, tuple[str, int, int]] = {}
    for m in corpus.measurements():
        shapes[m["domain"]] = (m["engine"], m["slot_cpus"], m["slot_memory_bytes"])
        if m["is_default"] and m["status"] == "SUCCEEDED":
            metrics[(m["workload_id"], m["domain"])].append(m["metrics_per_s"])
            if (m["mean_latency_s"] or 0) > 0:
                latency[(m["workload_id"], m["domain"])].append(m["mean_latency_s"])
    out = {}
    for w in corpus.workloads():
        key = (w["workload_id"], w["domain"])
        if w["domain"] not in shapes or w["kind"] != "olap" or not latency.get(key):
            continue
        engine, cpus, memory = shapes[w["domain"]]
        runs = metrics.get(key, [])
        default = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in (runs[0] if runs else {})}
        out[key] = WorkloadInput(
            engine, cpus, memory, w["features"], w["plans"], default, w["workload_id"],
            statistics.median(latency[key]),
        )  # fmt: skip
    return out


def load_data(corpus: Corpus, embed: Callable[[Sequence[str]], np.ndarray]) -> DannData:
    """Every successful OLAP measurement of ``corpus`` with its workload's inputs.

    Raises:
        KnobrayError: No usable measurement.
    """
    inputs = workload_inputs(corpus)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for m in corpus.measurements():
        key = (m["workload_id"], m["domain"])
        if (
            m["status"] == "SUCCEEDED"
            and m["kind"] == "olap"
            and (m["mean_latency_s"] or 0) > 0
            and key in inputs
        ):
            groups[key].append(m)
    if not groups:
        raise KnobrayError(
            f"corpus {corpus.path} has no successful OLAP measurement with its workload; collect one"
        )
    domains = sorted({d for _, d in groups})
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    configs: list[dict[str, Any]] = []
    texts: list[str] = []
    for key, rows in sorted(groups.items()):
        w = inputs[key]
        for name, value in build_rows([r["config"] for r in rows], w).items():
            parts[name].append(value)
        parts["y"].append(np.log(np.array([r["mean_latency_s"] for r in rows], dtype=np.float32)))
        parts["anchor"].append(np.full(len(rows), np.log(w.default_latency_s), dtype=np.float32))
        parts["domain"].append(np.full(len(rows), domains.index(key[1])))
        parts["workload_ids"].append(np.array([key[0]] * len(rows), dtype=object))
        parts["n_queries"].append(
            np.full(len(rows), max(1, len(w.plans) or int(w.features.get("num_queries", 1))))
        )
        texts += [w.plan_text()] * len(rows)
        configs += [r["config"] for r in rows]
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return DannData(
        cat["knobs"], cat["masks"], cat["workload"], cat["hardware"], embed(texts), cat["y"].astype(np.float32),
        cat["anchor"], cat["domain"], domains, cat["workload_ids"], configs, cat["n_queries"],
    )  # fmt: skip


@dataclass(frozen=True)
class Split:
    """Row indices: train (with ``labelled`` saying which train rows' labels the model sees), val, test."""

    train: np.ndarray
    labelled: np.ndarray  # bool per train row
    val: np.ndarray
    test: np.ndarray
    source: int  # the fully labelled domain


def source_domain(data: DannData) -> int:
    """The domain with the most samples: the fully labelled one."""
    return int(np.bincount(data.domain, minlength=len(data.domains)).argmax())


def grouped_folds(groups: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Row indices of ``k`` folds; every group (workload) falls in exactly one fold."""
    names = np.array(sorted(set(groups.tolist())), dtype=object)
    np.random.default_rng(seed).shuffle(names)
    fold_of = {n: i % k for i, n in enumerate(names)}
    assigned = np.array([fold_of[g] for g in groups])
    return [np.flatnonzero(assigned == i) for i in range(k)]


def make_split(
    data: DannData,
    test: np.ndarray,
    *,
    label_fraction: float,
    seed: int,
    val_fraction: float = 0.15,
    grouped: bool = True,
) -> Split:
    """Train/val from the rows not in ``test`` (val grouped by workload unless ``grouped`` is off), the source
    domain fully labelled and ``label_fraction`` of every target domain's train rows labelled.

    Raises:
        KnobrayError: A target domain without labelled rows.
    """
    rng = np.random.default_rng(seed)
    rest = np.setdiff1d(np.arange(len(data)), test)
    if grouped:
        names = np.array(sorted(set(data.workload_ids[rest].tolist())), dtype=object)
        rng.shuffle(names)
        val_names = set(names[: max(1, round(val_fraction * len(names)))].tolist())
        in_val = np.array([g in val_names for g in data.workload_ids[rest]])
    else:
        in_val = rng.random(len(rest)) < val_fraction
    train, val = rest[~in_val], rest[in_val]
    source = source_domain(data)
    labelled = (data.domain[train] == source) | (rng.random(len(train)) < label_fraction)
    for d, name in enumerate(data.domains):
        if d != source and (data.domain[train] == d).any() and not labelled[data.domain[train] == d].any():
            raise KnobrayError(f"domain {name} has no labelled training rows; collect more of it")
    # Validation sees what a user would have: labels of the source and of the labelled share of targets.
    val = val[(data.domain[val] == source) | (rng.random(len(val)) < max(label_fraction, 0.3))]
    return Split(train, labelled, val, test, source)
