"""Inputs of the DANN cost model: knob features through a semantic knob map, workload features, metrics.

Knob features are relative to the slot: a memory knob is log2 of its share of the slot's memory (so one model
serves several shapes), any other knob its position in the searched range of that slot (log scale where the
knob is searched on one). PostgreSQL and MariaDB knobs of the same meaning share a feature (the buffer pool,
sort and join memory, temporary tables, log buffer and size, I/O capacity, flushing, planner depth); a
feature an engine lacks is 0 with mask 0. Features come in groups, one encoder token per group.

Workload inputs: E2ETune's six workload features, and seven internal metrics per second under the default
configuration, mapped across engines and log-scaled. Plans enter separately, as a sentence embedding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from raytune.hardware import Hardware
from raytune.knobs import KnobSpace, KnobType, cached_catalog, tunable_space
from raytune.optimizers import ParamKind, param_specs

ENGINES = ("postgres", "mariadb")

# (group, feature, {engine: knob}): one row per feature; a knob may feed two features.
KNOB_MAP: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("memory", "buffer_pool", {"postgres": "shared_buffers", "mariadb": "innodb_buffer_pool_size"}),
    ("memory", "cache_size_hint", {"postgres": "effective_cache_size"}),
    ("memory", "read_buffer", {"mariadb": "read_buffer_size"}),
    ("memory", "read_rnd_buffer", {"mariadb": "read_rnd_buffer_size"}),
    ("query_memory", "sort_memory", {"postgres": "work_mem", "mariadb": "sort_buffer_size"}),
    ("query_memory", "join_memory", {"postgres": "work_mem", "mariadb": "join_buffer_size"}),
    ("query_memory", "temp_tables", {"postgres": "temp_buffers", "mariadb": "tmp_table_size"}),
    ("query_memory", "heap_tables", {"mariadb": "max_heap_table_size"}),
    ("query_memory", "maintenance_memory", {"postgres": "maintenance_work_mem"}),
    ("cpu", "worker_processes", {"postgres": "max_worker_processes", "mariadb": "innodb_purge_threads"}),
    ("cpu", "parallel_workers", {"postgres": "max_parallel_workers"}),
    ("cpu", "parallel_per_query", {"postgres": "max_parallel_workers_per_gather"}),
    ("cpu", "thread_cache", {"mariadb": "thread_cache_size"}),
    ("cpu", "spin_wait", {"mariadb": "innodb_spin_wait_delay"}),
    ("io", "io_capacity", {"postgres": "effective_io_concurrency", "mariadb": "innodb_io_capacity"}),
    ("io", "io_capacity_max", {"mariadb": "innodb_io_capacity_max"}),
    ("io", "random_page_cost", {"postgres": "random_page_cost"}),
    ("io", "read_ahead", {"mariadb": "innodb_read_ahead_threshold"}),
    ("io", "flush_after", {"postgres": "backend_flush_after", "mariadb": "innodb_flush_neighbors"}),
    ("io", "flush_method", {"mariadb": "innodb_flush_method"}),
    (
        "writeback",
        "flush_pressure",
        {"postgres": "bgwriter_lru_maxpages", "mariadb": "innodb_lru_scan_depth"},
    ),
    ("writeback", "writer_delay", {"postgres": "bgwriter_delay"}),
    ("writeback", "writer_multiplier", {"postgres": "bgwriter_lru_multiplier"}),
    ("writeback", "dirty_pages", {"mariadb": "innodb_max_dirty_pages_pct"}),
    ("writeback", "dirty_pages_low", {"mariadb": "innodb_max_dirty_pages_pct_lwm"}),
    ("log", "log_buffer", {"postgres": "wal_buffers", "mariadb": "innodb_log_buffer_size"}),
    ("log", "log_size", {"postgres": "max_wal_size", "mariadb": "innodb_log_file_size"}),
    ("log", "log_size_min", {"postgres": "min_wal_size"}),
    ("log", "checkpoint_timeout", {"postgres": "checkpoint_timeout"}),
    ("log", "checkpoint_spread", {"postgres": "checkpoint_completion_target"}),
    ("log", "commit_delay", {"postgres": "commit_delay"}),
    ("log", "log_writer_delay", {"postgres": "wal_writer_delay"}),
    ("planner", "planner_depth", {"postgres": "join_collapse_limit", "mariadb": "optimizer_search_depth"}),
    ("planner", "planner_from_depth", {"postgres": "from_collapse_limit"}),
    ("planner", "jit", {"postgres": "jit"}),
    ("planner", "join_cache_level", {"mariadb": "join_cache_level"}),
    ("planner", "adaptive_hash", {"mariadb": "innodb_adaptive_hash_index"}),
    ("planner", "change_buffering", {"mariadb": "innodb_change_buffering"}),
    ("planner", "table_cache", {"mariadb": "table_open_cache"}),
)
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(g for g, _, _ in KNOB_MAP))
FEATURES: tuple[str, ...] = tuple(f for _, f, _ in KNOB_MAP)

WORKLOAD_FEATURES = (
    "num_queries",
    "read_ratio",
    "group_by_ratio",
    "order_by_ratio",
    "aggregation_ratio",
    "predicates_per_query",
)
METRIC_MAP: tuple[tuple[str, dict[str, str]], ...] = (
    ("blocks_read", {"postgres": "db.blks_read", "mariadb": "status.innodb_buffer_pool_reads"}),
    ("blocks_hit", {"postgres": "db.blks_hit", "mariadb": "status.innodb_buffer_pool_read_requests"}),
    ("rows_read", {"postgres": "db.tup_returned", "mariadb": "status.innodb_rows_read"}),
    ("rows_fetched", {"postgres": "db.tup_fetched", "mariadb": "status.handler_read_key"}),
    ("temp_files", {"postgres": "db.temp_files", "mariadb": "status.created_tmp_disk_tables"}),
    ("temp_bytes", {"postgres": "db.temp_bytes", "mariadb": "status.created_tmp_files"}),
    ("commits", {"postgres": "db.xact_commit", "mariadb": "status.com_commit"}),
)
MEMORY_UNITS = {"8kB": 8192, "kB": 1024, "MB": 1024**2, "B": 1}
MEMORY_FLOOR_LOG2 = -24.0  # 1/16M of the slot: the smallest share a memory feature resolves


@dataclass(frozen=True)
class WorkloadInput:
    """What the cost model knows of a workload on one engine and slot shape (no configuration-specific data).

    Attributes:
        engine: ``postgres`` or ``mariadb``.
        cpus: Slot CPUs.
        memory_bytes: Slot memory.
        features: E2ETune workload features (``WORKLOAD_FEATURES``).
        plans: Query -> compact operator tree under the default configuration.
        default_metrics: Internal counters per second of a run under the default configuration.
        workload_id: A name for records.
        default_latency_s: Mean latency per query of a run under the default configuration (0: unknown). The
            model predicts each configuration's latency relative to it.
        default_run_s: Seconds that run took, warm-up pass included (0: unknown): the counters' interval.
    """

    engine: str
    cpus: int
    memory_bytes: int
    features: Mapping[str, float] = field(default_factory=dict)
    plans: Mapping[str, str] = field(default_factory=dict)
    default_metrics: Mapping[str, float] = field(default_factory=dict)
    workload_id: str = ""
    default_latency_s: float = 0.0
    default_run_s: float = 0.0

    def plan_text(self) -> str:
        """The text the plan embedding reads: every plan, in query order."""
        return " ; ".join(self.plans[k] for k in sorted(self.plans)) or "no plans"

    def describe(self) -> dict[str, Any]:
        return {"name": self.workload_id or "workload", "kind": "olap", "engine": self.engine}


@lru_cache(maxsize=32)
def _slot_specs(engine: str, cpus: int, memory_bytes: int) -> dict[str, Any]:
    return {s.name: s for s in param_specs(slot_space(engine, cpus, memory_bytes))}


@lru_cache(maxsize=32)
def slot_space(engine: str, cpus: int, memory_bytes: int) -> KnobSpace:
    """The engine's curated tunable space for a slot of this shape (the bounds the features are relative to)."""
    return tunable_space(engine, cached_catalog(engine), Hardware(cpus, memory_bytes))


def knob_vector(
    config: Mapping[str, Any], engine: str, cpus: int, memory_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(features, masks) of one configuration, each of length ``len(FEATURES)``; ``{}`` is the default."""
    values, masks = knob_matrix([config], engine, cpus, memory_bytes)
    return values[0], masks[0]


def knob_matrix(
    configs: Sequence[Mapping[str, Any]], engine: str, cpus: int, memory_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(features [N, F], masks [N, F]) of many configurations of one engine and slot, column by column.

    Values may be native numbers or text with units ("3013MB"); a knob a configuration leaves out takes its
    default, and a number is clipped to the range searched in the slot, as the optimizers' encoding does.
    """
    space = slot_space(engine, cpus, memory_bytes)
    specs = _slot_specs(engine, cpus, memory_bytes)
    catalog = cached_catalog(engine)
    n = len(configs)
    values = np.zeros((n, len(FEATURES)), dtype=np.float32)
    masks = np.zeros((n, len(FEATURES)), dtype=np.float32)
    for i, (_, _, knobs) in enumerate(KNOB_MAP):
        name = knobs.get(engine)
        if name is None or name not in specs:
            continue
        masks[:, i] = 1.0
        knob, spec = space[name], specs[name]
        raw = [_native(catalog, name, c.get(name, knob.default), knob.default) for c in configs]
        if spec.kind is ParamKind.CHOICE:
            index = {c: j for j, c in enumerate(spec.choices)}
            values[:, i] = [index.get(str(v), 0) / max(1, len(spec.choices) - 1) for v in raw]
            continue
        number = np.array([float(v) if isinstance(v, int | float) else np.nan for v in raw], dtype=np.float64)
        number = np.where(np.isnan(number), float(knob.default or 0), number)
        unit = MEMORY_UNITS.get(knob.unit or "") if knob.type is KnobType.INTEGER else None
        if unit is not None:
            share = np.log2(np.maximum(number * unit, 1.0) / memory_bytes)
            values[:, i] = 1.0 + np.maximum(share, MEMORY_FLOOR_LOG2) / -MEMORY_FLOOR_LOG2
            continue
        x = np.clip(number / spec.scale, spec.lower, spec.upper)
        if spec.upper <= spec.lower:
            values[:, i] = 0.0
        elif spec.log and spec.lower > 0:
            lo, hi = math.log(spec.lower), math.log(spec.upper)
            values[:, i] = (np.log(np.maximum(x, spec.lower)) - lo) / (hi - lo)
        else:
            values[:, i] = (x - spec.lower) / (spec.upper - spec.lower)
    return values, masks


def _native(catalog: KnobSpace, name: str, value: Any, default: Any) -> Any:
    """``value`` in the knob's native units (text with units parsed); the default where it does not parse."""
    if isinstance(value, int | float) or value is None:
        return default if value is None else value
    try:
        return catalog[name].normalize(value)
    except Exception:  # noqa: BLE001 - a value the catalog refuses says nothing; the default stands in
        return default


def workload_vector(w: WorkloadInput) -> np.ndarray:
    """E2ETune's features (query count log-scaled), the mapped default metrics (log1p per second) and the log of
    the default mean latency in ms (0 where unknown)."""
    f = [math.log1p(float(w.features.get("num_queries", 0.0)))]
    f += [float(w.features.get(k, 0.0)) for k in WORKLOAD_FEATURES[1:]]
    f += [
        math.log1p(max(0.0, float(w.default_metrics.get(m[w.engine], 0.0)))) if w.engine in m else 0.0
        for _, m in METRIC_MAP
    ]
    f.append(math.log1p(1000 * w.default_latency_s))
    return np.asarray(f, dtype=np.float32)


def hardware_vector(engine: str, cpus: int, memory_bytes: int) -> np.ndarray:
    """Engine one-hot, log2 CPUs, log2 memory in GB."""
    onehot = [1.0 if engine == e else 0.0 for e in ENGINES]
    return np.asarray([*onehot, math.log2(cpus), math.log2(memory_bytes / 1024**3)], dtype=np.float32)


def group_slices() -> list[slice]:
    """The feature index range of each group (features of a group are contiguous in ``KNOB_MAP``)."""
    out, start = [], 0
    for g in GROUPS:
        n = sum(1 for grp, _, _ in KNOB_MAP if grp == g)
        out.append(slice(start, start + n))
        start += n
    return out


def build_rows(configs: Sequence[Mapping[str, Any]], w: WorkloadInput) -> dict[str, np.ndarray]:
    """The model's tabular inputs for ``configs`` of one workload: knobs, masks, workload, hardware."""
    knobs, masks = knob_matrix(configs, w.engine, w.cpus, w.memory_bytes)
    n = len(configs)
    return {
        "knobs": knobs,
        "masks": masks,
        "workload": np.repeat(workload_vector(w)[None, :], n, axis=0),
        "hardware": np.repeat(hardware_vector(w.engine, w.cpus, w.memory_bytes)[None, :], n, axis=0),
    }
