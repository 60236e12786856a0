"""A planted Berkeley DB world for pure-logic tests (a fake, named as such: no Berkeley DB runs).

Records look like real dbperf trial records; their per-transaction statistics follow simple planted rules: small
pages save misses when the locality set is small and cost misses when it is large, DB_RMW halves lock waits and
the minwrite policy cuts them further, and throughput = exp(4 - 0.05 waits - 0.2 misses) with 3% noise. The
planted optimum: 2K pages when def_page_loc < 30 (else 8K), min_keys 2, DB_RMW on, minwrite.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from raytune.records import Direction, TrialRecord
from raytune.storage import TrialStore
from raytune.workloads import sample_mix
from trainables.influence import DECISIONS, knob_config

LAYOUTS = {("2048", "2"): (1400, 0), ("2048", "4/16"): (1100, 3500), ("8192", "2"): (300, 0),
           ("8192", "4/16"): (260, 3500)}  # fmt: skip


def planted_stats(mix: dict[str, float], states: dict[str, str], rng: random.Random) -> dict[str, float]:
    small = states["page_size"] == "2048"
    misses = (0.5 if small else 2.0) if mix["def_page_loc"] < 30 else (3.0 if small else 1.0)
    overflow = states["min_keys"] == "4/16"
    misses += 0.3 * mix["size_loc"] / 10 if overflow else 0.0
    waits = mix["concurrency"] / 10 * mix["pct_updates"] / 100
    waits *= 0.5 if states["db_rmw"] == "on" else 1.0
    waits *= 0.4 if states["deadlock_policy"] == "minwrite" else 1.0
    leaves, overflows = LAYOUTS[(states["page_size"], states["min_keys"])]
    items = (
        mix["pct_cursors"] / 100 * mix["items_curs"] + (1 - mix["pct_cursors"] / 100) * mix["items_non_curs"]
    )
    return {
        "leaves": items * (0.3 if small else 0.9), "overflows": items * mix["size_loc"] / 100 * overflow,
        "misses": misses * rng.uniform(0.95, 1.05), "waits": waits * rng.uniform(0.95, 1.05), "faults": 0.0,
        "layout.leaf_pages": float(leaves), "layout.overflow_pages": float(overflows),
    }  # fmt: skip


def throughput(stats: dict[str, float], rng: random.Random) -> float:
    return math.exp(4 - 0.05 * stats["waits"] - 0.2 * stats["misses"]) * rng.uniform(0.97, 1.03)


def write_planted_records(directory: Path, runs: int, seed: int = 0) -> Path:
    """``runs`` planted records (random mix x random decisions) in a trial store at ``directory``."""
    rng = random.Random(seed)
    store = TrialStore(directory)
    for _ in range(runs):
        mix = sample_mix(rng).to_dict()
        states = {d: rng.choice(s) for d, s in DECISIONS.items()}
        stats = planted_stats(mix, states, rng)
        config = {k: str(v) for k, v in knob_config(states).items()}
        tps = throughput(stats, rng)
        record = TrialRecord(
            objective=tps, objective_name="throughput_tps", direction=Direction.MAXIMIZE, engine="berkeleydb",
            workload={"name": "dbperf", "kind": "oltp", "data": "dbperf-4900", "mix": mix, "items": 4900},
            config=config, applied=config, summary={"throughput_tps": tps, "per_txn": stats},
        )  # fmt: skip
        store.append(record, score=tps, optimizer="random")
    return directory
