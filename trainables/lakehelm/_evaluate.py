"""The evaluation protocol: query split, workloads, per-query ratio, and the fixed-choice baselines.

ratio(q) = latency of the (engine, lake, config) chosen for query q / best latency of q over every measured
combo and config. A score is the mean ratio over the queries of a list of workloads (a query counts once per
workload it is in), as in LakeHelm's per-query evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from trainables.lakehelm._dataset import LatencyDataset

# query index -> record index (one of that query's measured (config, latency) records)
Chooser = Callable[[int], int]


@dataclass(frozen=True)
class Split:
    """Query indices of each part; disjoint."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]


@dataclass(frozen=True)
class Choice:
    """What a chooser picked for a query, for reports."""

    query: str
    combo: str
    config: str
    ratio: float


def split_queries(
    n_queries: int, seed: int, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> Split:
    """Random query-level split (seeded); every part gets at least one query when there are three or more."""
    if n_queries < 3:
        raise ValueError(f"need at least 3 queries to split into train/val/test, got {n_queries}")
    order = np.random.default_rng(seed).permutation(n_queries)
    n_val = max(1, round(fractions[1] * n_queries))
    n_test = max(1, round(fractions[2] * n_queries))
    n_train = n_queries - n_val - n_test
    if n_train < 1:
        raise ValueError(f"{n_queries} queries leave none for training")
    return Split(
        train=tuple(sorted(order[:n_train].tolist())),
        val=tuple(sorted(order[n_train : n_train + n_val].tolist())),
        test=tuple(sorted(order[n_train + n_val :].tolist())),
    )


def sample_workloads(
    queries: Sequence[int], n: int, seed: int, min_size: int = 3, max_size: int = 15
) -> list[tuple[int, ...]]:
    """``n`` workloads of ``min_size``..``max_size`` distinct queries drawn from ``queries`` (capped at its size)."""
    rng = np.random.default_rng(seed)
    pool = np.asarray(queries)
    hi = min(max_size, len(pool))
    lo = min(min_size, hi)
    return [
        tuple(sorted(rng.choice(pool, size=int(rng.integers(lo, hi + 1)), replace=False).tolist()))
        for _ in range(n)
    ]


def evaluate_chooser(ds: LatencyDataset, workloads: Sequence[Sequence[int]], choose: Chooser) -> float:
    """Mean ratio over the workloads' queries of the records ``choose`` picks."""
    cache: dict[int, float] = {}
    ratios = []
    for wl in workloads:
        for q in wl:
            if q not in cache:
                rec = choose(q)
                if ds.rec_query[rec] != q:
                    raise ValueError(f"chooser returned a record of another query for {ds.queries[q]}")
                cache[q] = float(ds.rec_ratio[rec])
            ratios.append(cache[q])
    return float(np.mean(ratios)) if ratios else float("nan")


def describe_choice(ds: LatencyDataset, rec: int) -> Choice:
    conf = int(ds.rec_conf[rec])
    return Choice(
        query=ds.queries[int(ds.rec_query[rec])],
        combo=str(ds.combos[int(ds.conf_combo[conf])]),
        config=ds.conf_text[conf],
        ratio=float(ds.rec_ratio[rec]),
    )


class _RatioTable:
    """Ratios of (query, config) with imputation for cells nobody measured.

    An unmeasured config of a measured combo counts as that query's median ratio on the combo (an arbitrary
    config of it); an unmeasured combo as the query's median ratio overall.
    """

    def __init__(self, ds: LatencyDataset) -> None:
        self.ds = ds
        self.cell = {
            (int(q), int(c)): float(r)
            for q, c, r in zip(ds.rec_query, ds.rec_conf, ds.rec_ratio, strict=True)
        }
        self.combo_median: dict[tuple[int, int], float] = {}
        self.combo_best: dict[tuple[int, int], float] = {}
        self.query_median = np.zeros(len(ds.queries))
        for q in range(len(ds.queries)):
            recs = ds.records_of(q)
            self.query_median[q] = float(np.median(ds.rec_ratio[recs]))
            for combo in np.unique(ds.rec_combo[recs]):
                r = ds.rec_ratio[recs[ds.rec_combo[recs] == combo]]
                self.combo_median[(q, int(combo))] = float(np.median(r))
                self.combo_best[(q, int(combo))] = float(r.min())

    def ratio(self, q: int, conf: int) -> float:
        if (q, conf) in self.cell:
            return self.cell[(q, conf)]
        combo = int(self.ds.conf_combo[conf])
        return self.combo_median.get((q, combo), float(self.query_median[q]))

    def tuned(self, q: int, combo: int) -> float:
        return self.combo_best.get((q, combo), float(self.query_median[q]))


def _mean_over(workloads: Sequence[Sequence[int]], f: Callable[[int], float]) -> float:
    vals = [f(q) for wl in workloads for q in wl]
    return float(np.mean(vals)) if vals else float("nan")


def baselines(
    ds: LatencyDataset, train_queries: Sequence[int], workloads: Sequence[Sequence[int]]
) -> dict[str, dict[str, object]]:
    """The fixed-choice baselines, chosen on ``train_queries`` and scored on ``workloads``.

    - ``best_fixed``: one (engine, lake, config) for every query, the one with the lowest mean training ratio;
    - ``best_fixed_combo_tuned``: one (engine, lake) with each query's best config on it (an upper bound of
      what config tuning alone can reach on a fixed combo).
    Cells nobody measured are imputed (see ``_RatioTable``), the same way for choosing and for scoring.
    """
    table = _RatioTable(ds)
    train = list(train_queries)
    conf_scores = np.array([np.mean([table.ratio(q, c) for q in train]) for c in range(len(ds.conf_text))])
    best_conf = int(np.argmin(conf_scores))
    combo_scores = np.array([np.mean([table.tuned(q, k) for q in train]) for k in range(len(ds.combos))])
    best_combo = int(np.argmin(combo_scores))
    return {
        "best_fixed": {
            "ratio": _mean_over(workloads, lambda q: table.ratio(q, best_conf)),
            "combo": str(ds.combos[int(ds.conf_combo[best_conf])]),
            "config": ds.conf_text[best_conf],
            "train_ratio": float(conf_scores[best_conf]),
        },
        "best_fixed_combo_tuned": {
            "ratio": _mean_over(workloads, lambda q: table.tuned(q, best_combo)),
            "combo": str(ds.combos[best_combo]),
            "train_ratio": float(combo_scores[best_combo]),
        },
    }
