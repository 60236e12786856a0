"""The same machinery on PostgreSQL: a hand-designed influence diagram over discrete levels of four knobs.

- Decisions (levels relative to the slot; each level recommends one representative value):
  ``shared_buffers`` (default: 128MB; mid: 8% of RAM; high: 25%), ``work_mem`` (4MB default / 64MB / 512MB),
  ``random_page_cost`` (4 default / 1.1), ``max_parallel_workers_per_gather`` (2 default / 0).
- Roots, observed under the default configuration (one run): blocks read, temp bytes and tuples fetched per query,
  and the share of queries with GROUP BY and ORDER BY (E2ETune's workload features).
- Value nodes, per query under the configuration: blocks read (parents: shared_buffers, default blocks read),
  log10 temp bytes (work_mem, default temp bytes, GROUP BY and ORDER BY shares), tuples fetched
  (random_page_cost, default tuples fetched) and parallel workers launched (max_parallel_workers_per_gather,
  default blocks read); their weights come from regressing ln(1 / mean query latency) on them.

Examples come from the corpus (``raytune.corpus``): every succeeded PostgreSQL measurement, its knobs put into
levels, its workload's default runs as the roots. The other knobs of a corpus configuration vary too; the
diagram's parameters absorb them, as the thesis's absorbed what it held fixed.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from raytune.errors import KnobrayError
from trainables.influence._data import Examples
from trainables.influence._structure import Node, NodeKind, Structure

KB, MB = 1024, 1024 * 1024
# decision -> its states in order (the first holds the default)
PG_DECISIONS: dict[str, tuple[str, ...]] = {
    "shared_buffers": ("default", "mid", "high"),
    "work_mem": ("default", "mid", "high"),
    "random_page_cost": ("default", "low"),
    "max_parallel_workers_per_gather": ("default", "off"),
}
PG_ROOTS = ("default_blocks", "default_temp", "default_fetched", "group_by_ratio", "order_by_ratio")
VALUE_METRICS = {"blocks_q": "db.blks_read", "temp_q": "db.temp_bytes", "fetched_q": "db.tup_fetched",
                 "workers_q": "db.parallel_workers_launched"}  # fmt: skip


def postgres_structure() -> Structure:
    nodes = [Node(r, NodeKind.ROOT) for r in PG_ROOTS]
    nodes += [Node(d, NodeKind.DECISION, (), s) for d, s in PG_DECISIONS.items()]
    nodes += [
        Node("blocks_q", NodeKind.VALUE, ("shared_buffers", "default_blocks")),
        Node("temp_q", NodeKind.VALUE, ("work_mem", "default_temp", "group_by_ratio", "order_by_ratio")),
        Node("fetched_q", NodeKind.VALUE, ("random_page_cost", "default_fetched")),
        Node("workers_q", NodeKind.VALUE, ("max_parallel_workers_per_gather", "default_blocks")),
    ]
    return Structure(tuple(nodes), tuple(PG_DECISIONS))


def levels(config: Mapping[str, Any], memory_bytes: float) -> dict[str, str]:
    """The decision states of a configuration in native units (8kB pages, kB); knobs left out are defaults."""
    sb = float(config.get("shared_buffers", 16384)) * 8 * KB / memory_bytes
    wm = float(config.get("work_mem", 4096)) * KB
    return {
        "shared_buffers": "default" if sb < 0.02 else "mid" if sb < 0.15 else "high",
        "work_mem": "default" if wm < 16 * MB else "mid" if wm < 256 * MB else "high",
        "random_page_cost": "low" if float(config.get("random_page_cost", 4.0)) <= 2.0 else "default",
        "max_parallel_workers_per_gather": "off"
        if int(config.get("max_parallel_workers_per_gather", 2)) == 0
        else "default",  # fmt: skip
    }


def level_config(states: Mapping[str, str], memory_bytes: float) -> dict[str, str]:
    """The configuration a combination of levels recommends (units in the values; defaults left out)."""
    out: dict[str, str] = {}
    if states["shared_buffers"] != "default":
        share = 0.08 if states["shared_buffers"] == "mid" else 0.25
        out["shared_buffers"] = f"{int(share * memory_bytes / MB)}MB"
    if states["work_mem"] != "default":
        out["work_mem"] = "64MB" if states["work_mem"] == "mid" else "512MB"
    if states["random_page_cost"] == "low":
        out["random_page_cost"] = "1.1"
    if states["max_parallel_workers_per_gather"] == "off":
        out["max_parallel_workers_per_gather"] = "0"
    return out


def per_query(metrics_per_s: Mapping[str, float], run_s: float, queries: int) -> dict[str, float]:
    """The value metrics per query run (temp bytes as log10(1 + bytes))."""
    total = {k: float(metrics_per_s.get(m, 0.0)) * run_s / max(queries, 1) for k, m in VALUE_METRICS.items()}
    total["temp_q"] = math.log10(1 + total["temp_q"])
    return total


def roots_of(features: Mapping[str, float], default: Mapping[str, float]) -> dict[str, float]:
    """The roots from E2ETune's workload features and the per-query values of a run under the default."""
    return {
        "default_blocks": default["blocks_q"], "default_temp": default["temp_q"],
        "default_fetched": default["fetched_q"], "group_by_ratio": float(features.get("group_by_ratio", 0.0)),
        "order_by_ratio": float(features.get("order_by_ratio", 0.0)),
    }  # fmt: skip


def corpus_examples(corpus: Any, domain: str, exclude: set[str] | None = None) -> Examples:
    """Every succeeded measurement of ``domain`` with its workload's default runs (median) as roots.

    Raises:
        KnobrayError: The domain has no PostgreSQL measurements.
    """
    workloads = {w["workload_id"]: w for w in corpus.workloads() if w["domain"] == domain}
    rows = [m for m in corpus.measurements() if m["domain"] == domain and m["status"] == "SUCCEEDED"
            and m["engine"] == "postgres" and m["workload_id"] not in (exclude or set())]  # fmt: skip
    if not rows:
        raise KnobrayError(f"the corpus has no succeeded PostgreSQL measurements in {domain}")
    values = {m["trial_id"]: per_query(m["metrics_per_s"], m["run_s"], len(workloads[m["workload_id"]]["queries"]))
              for m in rows}  # fmt: skip
    defaults: dict[str, list[dict[str, float]]] = defaultdict(list)
    for m in rows:
        if m["is_default"]:
            defaults[m["workload_id"]].append(values[m["trial_id"]])
    columns: dict[str, list[Any]] = defaultdict(list)
    tps = []
    for m in rows:
        if m["workload_id"] not in defaults or not m["mean_latency_s"]:
            continue
        default = {k: statistics.median(d[k] for d in defaults[m["workload_id"]]) for k in VALUE_METRICS}
        example = {**roots_of(workloads[m["workload_id"]]["features"], default),
                   **levels(dict(m["config"]), m["slot_memory_bytes"]), **values[m["trial_id"]]}  # fmt: skip
        for k, v in example.items():
            columns[k].append(v)
        tps.append(1.0 / m["mean_latency_s"])
    return Examples(
        {k: np.array(v, dtype=object if isinstance(v[0], str) else float) for k, v in columns.items()},
        np.array(tps),
    )


def fit_postgres_diagram(corpus: Any, domain: str, exclude: set[str] | None = None) -> Any:
    """The PostgreSQL diagram learned from a corpus domain (MDL bins, counts, weights)."""
    from trainables.influence._train import fit_diagram

    return fit_diagram(corpus_examples(corpus, domain, exclude), postgres_structure(), value_scale="raw")


def recommend_postgres(model: Any, w: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The levels and the configuration the diagram recommends for a workload described by one run under the
    default (a ``trainables.dann.WorkloadInput`` with plans, metrics and the run's duration).

    Raises:
        KnobrayError: The workload was not run under the default (no metrics or duration).
    """
    if not w.default_metrics or w.default_run_s <= 0:
        raise KnobrayError(
            "the PostgreSQL influence diagram needs one run under the default (metrics, duration)"
        )
    default = per_query(w.default_metrics, w.default_run_s, int(w.features.get("num_queries", 1)))
    states, _ = model.recommend(roots_of(w.features, default))
    return states, level_config(states, w.memory_bytes)
