"""Labels as arrays for the recommender, and the vocabulary of knobs it writes.

Each label gives one sample (its text, numbers and target buckets); each non-step label gives a second sample
as known from its SQL alone (no plans, metrics or default latency), so the model also recommends before any run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from raytune.errors import KnobrayError
from trainables.dann._features import ENGINES, WorkloadInput
from trainables.recommender._backbone import TextBackbone
from trainables.recommender._buckets import KnobBuckets, bucket_count
from trainables.recommender._inputs import Step, numeric_vector, sql_only, workload_text
from trainables.recommender._labels import Label

REFERENCE_SHAPE = (1, 8 * 1024**3)  # knob names do not depend on the slot shape; bounds do


def vocabulary(engines: Sequence[str] = ENGINES) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Every knob the recommender can write (``engine.knob``, in each engine's order) and its bucket count."""
    names, counts = [], []
    for engine in engines:
        kb = KnobBuckets(engine, *REFERENCE_SHAPE)
        for spec in kb.specs:
            names.append(f"{engine}.{spec.name}")
            counts.append(bucket_count(spec))
    return tuple(names), tuple(counts)


def knob_ids(vocab: Sequence[str], engine: str, knobs: Sequence[str]) -> list[int]:
    """Vocabulary positions of an engine's knobs.

    Raises:
        KnobrayError: A knob the vocabulary lacks (a model trained on another knob set).
    """
    index = {name: i for i, name in enumerate(vocab)}
    missing = [k for k in knobs if f"{engine}.{k}" not in index]
    if missing:
        raise KnobrayError(
            f"this recommender was trained on another {engine} knob set (it lacks {', '.join(missing[:3])}); "
            "retrain it with python -m trainables.train recommender"
        )
    return [index[f"{engine}.{k}"] for k in knobs]


def current_buckets(vocab: Sequence[str], w: WorkloadInput, step: Step | None) -> list[int] | None:
    """The current configuration's bucket per vocabulary knob (-1 for other engines' knobs)."""
    if step is None:
        return None
    kb = KnobBuckets(w.engine, w.cpus, w.memory_bytes)
    out = [-1] * len(vocab)
    for i, b in zip(knob_ids(vocab, w.engine, kb.knobs), kb.to_buckets(step.config), strict=True):
        out[i] = b
    return out


def model_inputs(vocab: Sequence[str], w: WorkloadInput, step: Step | None) -> tuple[str, np.ndarray]:
    """(text, numeric vector) of one workload, with the current configuration in multi-step mode."""
    return workload_text(w, step), numeric_vector(w, step, current_buckets(vocab, w, step), len(vocab))


@dataclass
class RecommenderData:
    """Samples (rows aligned) and the distinct texts' token states."""

    states: list[np.ndarray]  # per distinct text: [T, dim] float16
    text_index: np.ndarray  # [S]
    numeric: np.ndarray  # [S, N]
    knobs: np.ndarray  # [S, K] vocabulary ids, 0 where padded
    targets: np.ndarray  # [S, K] buckets, -100 where padded
    workload_ids: np.ndarray  # [S] grouping key
    kinds: np.ndarray  # [S]
    vocabulary: tuple[str, ...]
    bucket_counts: tuple[int, ...]
    engines: tuple[str, ...]  # the engines the labels are for

    def __len__(self) -> int:
        return len(self.text_index)


def build_data(
    labels: Sequence[Label], backbone: TextBackbone, *, sql_only_copies: bool = True
) -> RecommenderData:
    """Arrays of every label (and its SQL-only copy).

    Raises:
        KnobrayError: No labels, or a label for an engine the recommender does not know.
    """
    if not labels:
        raise KnobrayError("no labels to train on; make them with python -m trainables.train labels")
    vocab, counts = vocabulary()
    texts: dict[str, int] = {}
    rows: list[tuple[int, np.ndarray, list[int], list[int], str, str]] = []
    for label in labels:
        w = label.workload
        if w.engine not in ENGINES:
            raise KnobrayError(
                f"label for unknown engine {w.engine!r}; the recommender knows {', '.join(ENGINES)}"
            )
        kb = KnobBuckets(w.engine, w.cpus, w.memory_bytes)
        ids, target = knob_ids(vocab, w.engine, kb.knobs), kb.to_buckets(label.config)
        step = (
            Step(label.current or {}, label.current_metrics, label.current_ratio)
            if label.kind == "step"
            else None
        )
        bare = sql_only(w)
        views = [w] + ([bare] if sql_only_copies and step is None and bare != w else [])
        for view in views:
            text, numeric = model_inputs(vocab, view, step)
            t = texts.setdefault(text, len(texts))
            rows.append((t, numeric, ids, target, w.workload_id, label.kind))
    k = max(len(r[2]) for r in rows)
    knobs = np.zeros((len(rows), k), dtype=np.int64)
    targets = np.full((len(rows), k), -100, dtype=np.int64)
    for i, r in enumerate(rows):
        knobs[i, : len(r[2])] = r[2]
        targets[i, : len(r[3])] = r[3]
    return RecommenderData(
        backbone(list(texts)), np.array([r[0] for r in rows]), np.stack([r[1] for r in rows]), knobs, targets,
        np.array([r[4] for r in rows], dtype=object), np.array([r[5] for r in rows], dtype=object), vocab, counts,
        tuple(sorted({label.workload.engine for label in labels})),
    )  # fmt: skip


def grouped_validation(workload_ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask of validation rows: ``fraction`` of the workloads, held out whole."""
    names = np.array(sorted(set(workload_ids.tolist())), dtype=object)
    np.random.default_rng(seed).shuffle(names)
    held = set(names[: max(1, round(fraction * len(names)))].tolist()) if len(names) > 1 else set()
    return np.array([w in held for w in workload_ids])
