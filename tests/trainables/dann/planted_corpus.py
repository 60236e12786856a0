"""A small synthetic corpus with a planted effect, for tests of the cost model (not measurements).

Two domains (PostgreSQL and MariaDB, one slot shape each), workloads of 1-6 queries. A workload's mean latency
is a base cost growing with its query count times a buffer-pool effect: each halving of the buffer pool below half the slot's memory makes
it 15% slower; work memory helps workloads with aggregations a little; everything else is noise (2%).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from raytune.corpus import Corpus
from raytune.corpus._collect import latin_hypercube
from raytune.optimizers import decode, param_specs
from trainables.dann import knob_vector
from trainables.dann._features import FEATURES, slot_space

GIB = 1024**3
DOMAINS = (("postgres", 1, 2 * GIB), ("mariadb", 1, 2 * GIB))
BUFFER = FEATURES.index("buffer_pool")
SORT = FEATURES.index("sort_memory")


def planted_latency(config: dict, engine: str, cpus: int, memory: int, base: float, agg: float) -> float:
    values, _ = knob_vector(config, engine, cpus, memory)
    share_log2 = (values[BUFFER] - 1.0) * 24.0  # log2 of the buffer pool's share of the slot
    slowdown = 1.15 ** max(0.0, -1.0 - share_log2)
    sort_gain = 1.0 - 0.1 * agg * values[SORT]
    return base * slowdown * sort_gain


def write_planted_corpus(path: Path, workloads: int = 12, configs: int = 12, seed: int = 0) -> Corpus:
    rng = np.random.default_rng(seed)
    corpus = Corpus(path).create()
    measurements, rows = [], []
    for engine, cpus, memory in DOMAINS:
        space = slot_space(engine, cpus, memory)
        domain = f"{engine}/{cpus}cpu-{memory / GIB:.1f}g"
        for w in range(workloads):
            wid = f"tpch-sf0.1:planted_{w}"
            n = 1 + w % 6
            agg = (w % 3) / 2
            base = 0.05 * (0.5 + n / 2)  # observable: it grows with the number of queries
            plans = {
                f"planted_{w}:{i}": ("aggregate(seq scan, 1.0)" if agg else "seq scan") for i in range(n)
            }
            rows.append({
                "workload_id": wid, "domain": domain, "engine": engine, "kind": "olap", "data": "tpch-sf0.1",
                "source": f"planted_{w}.wg", "queries": {k: "SELECT 1" for k in plans}, "dropped": {},
                "features": {"num_queries": n, "read_ratio": 1.0, "group_by_ratio": agg, "order_by_ratio": 0.0,
                             "aggregation_ratio": agg, "predicates_per_query": 1.0},
                "plans": plans,
            })  # fmt: skip
            samples = [{}, {}] + [
                decode(space, p) for p in latin_hypercube(param_specs(space), configs, seed + w)
            ]
            for i, config in enumerate(samples):
                latency = planted_latency(config, engine, cpus, memory, base, agg) * (1 + rng.normal(0, 0.02))
                measurements.append({
                    "trial_id": f"{engine}-{w}-{i}", "search_id": "planted", "domain": domain, "engine": engine,
                    "engine_version": "planted", "slot_cpus": cpus, "slot_memory_bytes": memory, "workload_id": wid,
                    "kind": "olap", "status": "SUCCEEDED", "is_default": not config,
                    "objective_name": "total_latency_s", "objective": latency * n, "mean_latency_s": latency,
                    "throughput_tps": None, "config": config, "applied": {}, "per_query": {},
                    "metrics_per_s": {"db.blks_read": 1000.0 * n, "status.innodb_buffer_pool_reads": 900.0 * n},
                    "run_s": latency * n, "started_at": 1.7e9 + i,
                })  # fmt: skip
    corpus.append("measurements", measurements)
    corpus.append("workloads", rows)
    return corpus


def fake_embed(texts: Sequence[str]) -> np.ndarray:
    """A fake plan embedding (a hash of the text spread over 384 numbers), for tests that do not load MiniLM."""
    out = np.zeros((len(texts), 384), np.float32)
    for i, t in enumerate(texts):
        digest = hashlib.sha256(t.encode()).digest()
        out[i, : len(digest)] = [b / 255 for b in digest]
        out[i] /= max(1e-6, math.sqrt(float((out[i] ** 2).sum())))
    return out
