"""What the recommender reads: a workload as text, E2ETune's way, and the same facts as numbers.

The text lists the engine and slot shape, the workload features (number of queries, read, group-by, order-by
and aggregation ratios, predicates per query), the internal metrics of one run under the default configuration
and, in multi-step mode, the configuration being improved with its metrics and its latency relative to the
default; then the query plans as compact operator trees with their costs (last, so that a long workload is cut
in its plans, not in its features). The numbers beside the text (the cost model's workload and slot vectors,
the current configuration's buckets) give the decoder the facts that a small text encoder reads poorly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainables.dann._features import (
    METRIC_MAP,
    WORKLOAD_FEATURES,
    WorkloadInput,
    hardware_vector,
    workload_vector,
)

if TYPE_CHECKING:
    from raytune.workloads import Query

N_WORKLOAD = len(WORKLOAD_FEATURES) + len(METRIC_MAP) + 1
N_HARDWARE = 4


@dataclass(frozen=True)
class Step:
    """The configuration a multi-step recommendation improves on: its buckets, and what a run under it showed.

    Attributes:
        config: The configuration measured.
        metrics: Its internal counters per second (the engine's names).
        latency_ratio: Its mean latency over the default's (0: unknown).
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    latency_ratio: float = 0.0


def _metrics_words(engine: str, metrics: Mapping[str, float]) -> str:
    words = []
    for name, names in METRIC_MAP:
        key = names.get(engine)
        if key is not None and key in metrics:
            words.append(f"{name.replace('_', ' ')} {float(metrics[key]):.3g}")
    return ", ".join(words) or "none"


def workload_text(w: WorkloadInput, step: Step | None = None) -> str:
    """The workload, slot and (multi-step) current configuration as one text."""
    f = w.features
    parts = [
        f"engine {w.engine}; slot {w.cpus} cpu {w.memory_bytes / 1024**3:.1f} gb",
        f"workload: {int(f.get('num_queries', 0))} queries, read ratio {f.get('read_ratio', 0):.2f}, group by "
        f"{f.get('group_by_ratio', 0):.2f}, order by {f.get('order_by_ratio', 0):.2f}, aggregation "
        f"{f.get('aggregation_ratio', 0):.2f}, predicates per query {f.get('predicates_per_query', 0):.1f}",
    ]
    if w.default_latency_s > 0:
        parts.append(f"default latency per query {1000 * w.default_latency_s:.0f} ms")
    if w.default_metrics:
        parts.append(f"default metrics per second: {_metrics_words(w.engine, w.default_metrics)}")
    if step is not None:
        settings = ", ".join(f"{k} {v}" for k, v in sorted(step.config.items())) or "default"
        parts.append(f"current config: {settings}")
        if step.latency_ratio > 0:
            parts.append(f"current latency {step.latency_ratio:.2f} of default")
        if step.metrics:
            parts.append(f"current metrics per second: {_metrics_words(w.engine, step.metrics)}")
    if w.plans:
        parts.append("plans: " + " ; ".join(w.plans[k] for k in sorted(w.plans)))
    return ". ".join(parts)


def numeric_vector(
    w: WorkloadInput, step: Step | None, current: Sequence[int] | None, n_knobs: int
) -> np.ndarray:
    """Workload vector, slot vector, then per vocabulary knob the current bucket / 9 and a flag, then the current
    latency ratio (log) and a multi-step flag."""
    cur = np.zeros(2 * n_knobs, dtype=np.float32)
    if current is not None:
        for i, b in enumerate(current):
            if b >= 0:
                cur[2 * i], cur[2 * i + 1] = b / 9.0, 1.0
    ratio = math.log(step.latency_ratio) if step is not None and step.latency_ratio > 0 else 0.0
    tail = np.asarray([ratio, 1.0 if step is not None else 0.0], dtype=np.float32)
    return np.concatenate(
        [workload_vector(w), hardware_vector(w.engine, w.cpus, w.memory_bytes), cur, tail]
    ).astype(np.float32)


def sql_only(w: WorkloadInput) -> WorkloadInput:
    """``w`` as known from its SQL alone: no plans, no metrics, no default latency (what a user has before any
    run)."""
    return WorkloadInput(w.engine, w.cpus, w.memory_bytes, dict(w.features), {}, {}, w.workload_id, 0.0)


def sql_workload(
    path: Path, engine: str, cpus: int, memory_bytes: int, workload_id: str = ""
) -> WorkloadInput:
    """A query file (``.wg`` or ``;``-separated SQL) as known from its SQL alone, on ``engine`` in a slot.

    Raises:
        WorkloadError: A missing file, no queries, or a statement that does not parse.
    """
    from raytune.workloads import read_query_file

    queries = read_query_file(Path(path))
    return queries_workload(queries, engine, cpus, memory_bytes, workload_id or f"sql:{Path(path).stem}")


def queries_workload(
    queries: Sequence[str | Query], engine: str, cpus: int, memory_bytes: int, workload_id: str = "sql"
) -> WorkloadInput:
    """Queries (PostgreSQL texts, or parsed queries in their own dialects) as the models see them before any
    run: their features alone."""
    from raytune.corpus import workload_features

    features = workload_features(list(queries)).to_dict()
    return WorkloadInput(engine, cpus, memory_bytes, features, {}, {}, workload_id, 0.0)
