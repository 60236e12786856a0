"""Synthetic labels with a planted workload -> knob rule, and a fake text backbone (not measurements, no MiniLM).

The rule: aggregation-heavy workloads (aggregation ratio >= 0.5) get work_mem in its ninth bucket, the others
in its second; every other knob stays at the default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from trainables.dann import WorkloadInput
from trainables.recommender import KnobBuckets, Label

GIB = 1024**3
SHAPE = ("postgres", 1, 2 * GIB)
HIGH, LOW = 8, 1


def planted_workload(i: int, aggregation: float) -> WorkloadInput:
    features = {"num_queries": 1 + i % 5, "read_ratio": 1.0, "group_by_ratio": aggregation,
                "order_by_ratio": 0.5, "aggregation_ratio": aggregation, "predicates_per_query": 1.0 + i % 3}  # fmt: skip
    plans = {f"q{j}": ("aggregate(seq scan, 1.0)" if aggregation >= 0.5 else "index scan") for j in range(2)}
    return WorkloadInput(*SHAPE, features, plans, {"db.blks_read": 100.0 * (1 + i % 4)}, f"planted_{i}", 0.1)


def work_mem_bucket(w: WorkloadInput) -> int:
    return HIGH if w.features["aggregation_ratio"] >= 0.5 else LOW


def planted_labels(n: int = 48) -> list[Label]:
    kb = KnobBuckets(*SHAPE)
    default = kb.to_buckets({})
    index = kb.knobs.index("work_mem")
    out = []
    for i in range(n):
        w = planted_workload(i, aggregation=[0.0, 0.25, 0.75, 1.0][i % 4])
        buckets = list(default)
        buckets[index] = work_mem_bucket(w)
        out.append(Label("measured", w, kb.from_buckets(buckets), 0.8))
    return out


class FakeBackbone:
    """Token states from word hashes (16 numbers a word), for tests that do not load MiniLM."""

    name = "fake"

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        out = []
        for text in texts:
            words = text.replace(",", " ").split()[:64]
            rows = [
                np.frombuffer(hashlib.sha256(w.encode()).digest()[:16], dtype=np.uint8) / 255.0 for w in words
            ]
            out.append(np.asarray(rows, dtype=np.float16))
        return out
