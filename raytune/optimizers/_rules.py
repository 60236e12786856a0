"""Rule-based configurations from the hardware: PGTune's rules for PostgreSQL, analogous memory rules for MariaDB,
the Reference Guide's advice for Berkeley DB.

PGTune (see ``shared/design/research.md``): shared_buffers = RAM/4; effective_cache_size = 3/4 RAM;
maintenance_work_mem = RAM/16 (data warehouse RAM/8, capped at 8GB); wal_buffers = 3% of shared_buffers
(capped at 16MB); min/max_wal_size by workload type; checkpoint_completion_target = 0.9;
default_statistics_target = 500 for dw else 100; random_page_cost 1.1 and effective_io_concurrency 200 on SSD;
parallel workers only with >= 4 CPUs; work_mem = (RAM - shared_buffers) / ((max_connections +
max_worker_processes) * 3), halved for dw / mixed, at least 4MB.
"""

from __future__ import annotations

import math
import os

from raytune.hardware import Hardware

MB = 1024 * 1024
GB = 1024 * MB
WORKLOAD_TYPES = ("web", "oltp", "dw", "mixed")


def _mb(value_bytes: float) -> str:
    return f"{max(1, int(value_bytes // MB))}MB"


def pgtune_config(hw: Hardware, workload_type: str = "dw", max_connections: int = 100) -> dict[str, str]:
    """PGTune's configuration for ``hw`` and a workload type (``web``, ``oltp``, ``dw``, ``mixed``)."""
    if workload_type not in WORKLOAD_TYPES:
        raise ValueError(f"workload type must be one of {WORKLOAD_TYPES}, got {workload_type!r}")
    ram = hw.ram_bytes
    shared = ram / 4
    maintenance = min(ram / 8 if workload_type == "dw" else ram / 16, 8 * GB)
    wal_buffers = min(max(0.03 * shared, 64 * 1024), 16 * MB)
    min_wal, max_wal = {"web": (1, 4), "oltp": (2, 8), "dw": (4, 16), "mixed": (1, 4)}[workload_type]
    config = {
        "shared_buffers": _mb(shared),
        "effective_cache_size": _mb(0.75 * ram),
        "maintenance_work_mem": _mb(maintenance),
        "wal_buffers": _mb(wal_buffers),
        "min_wal_size": f"{min_wal}GB",
        "max_wal_size": f"{max_wal}GB",
        "checkpoint_completion_target": "0.9",
        "default_statistics_target": "500" if workload_type == "dw" else "100",
        "random_page_cost": "1.1" if hw.ssd else "4",
        "effective_io_concurrency": "200" if hw.ssd else "2",
    }
    workers = 8  # PostgreSQL's default max_worker_processes
    if hw.cores >= 4:
        workers = hw.cores
        config["max_worker_processes"] = str(hw.cores)
        config["max_parallel_workers_per_gather"] = str(min(math.ceil(hw.cores / 2), 4))
        config["max_parallel_workers"] = str(hw.cores)
        config["max_parallel_maintenance_workers"] = str(min(math.ceil(hw.cores / 2), 4))
    work_mem = (ram - shared) / ((max_connections + workers) * 3)
    if workload_type in ("dw", "mixed"):
        work_mem /= 2
    config["work_mem"] = f"{max(4 * 1024, int(work_mem // 1024))}kB"
    return config


def mariadb_rule_config(hw: Hardware, workload_type: str = "dw") -> dict[str, str]:
    """knobray's MariaDB analogue of PGTune: the same memory split, InnoDB I/O by disk type."""
    if workload_type not in WORKLOAD_TYPES:
        raise ValueError(f"workload type must be one of {WORKLOAD_TYPES}, got {workload_type!r}")
    ram = hw.ram_bytes
    chunk = 128 * MB
    pool = max(chunk, int(ram / 4 // chunk) * chunk)  # RAM/4, like shared_buffers, in buffer-pool chunks
    analytic = workload_type in ("dw", "mixed")
    return {
        "innodb_buffer_pool_size": str(pool),
        "innodb_log_file_size": str(min(max(pool // 4, 48 * MB), 2 * GB)),
        "innodb_log_buffer_size": str(64 * MB if workload_type == "oltp" else 16 * MB),
        "innodb_io_capacity": "2000" if hw.ssd else "200",
        "innodb_io_capacity_max": "4000" if hw.ssd else "400",
        "innodb_flush_neighbors": "0" if hw.ssd else "1",
        "innodb_purge_threads": str(min(4, max(1, hw.cores))),
        "tmp_table_size": _mb(min(ram / 64, 1 * GB) if analytic else 64 * MB),
        "max_heap_table_size": _mb(min(ram / 64, 1 * GB) if analytic else 64 * MB),
        "sort_buffer_size": _mb(8 * MB if analytic else 2 * MB),
        "join_buffer_size": _mb(8 * MB if analytic else 1 * MB),
        "table_open_cache": "4000",
        "thread_cache_size": "64",
    }


def berkeleydb_rule_config(hw: Hardware, workload_type: str = "oltp") -> dict[str, str]:
    """The advice of the Berkeley DB Reference Guide: pages of the file system's block size, ``DB_RMW`` on
    read-modify-write to avoid lock-upgrade deadlocks, and the detector aborting the transaction with the fewest
    write locks (the least work lost)."""
    if workload_type not in WORKLOAD_TYPES:
        raise ValueError(f"workload type must be one of {WORKLOAD_TYPES}, got {workload_type!r}")
    from raytune.home import knobray_home

    where = next(p for p in (knobray_home(), *knobray_home().parents) if p.exists())  # instances' file system
    block = os.statvfs(where).f_bsize
    page = min(65536, max(512, 1 << (max(block, 512).bit_length() - 1)))
    return {"page_size": str(page), "min_keys": "2", "db_rmw": "on", "deadlock_policy": "minwrite"}


# each engine's rule-based baseline
RULES = {"postgres": pgtune_config, "mariadb": mariadb_rule_config, "berkeleydb": berkeleydb_rule_config}


def rule_config(engine: str, hw: Hardware, workload_kind: str) -> dict[str, str]:
    """The rule-based baseline for ``engine``: analytic workloads use the ``dw`` rules, transactional ``oltp``.

    Raises:
        KeyError: An engine without rules (every engine knobray tunes has them).
    """
    workload_type = "dw" if workload_kind == "olap" else "oltp"
    return RULES[engine](hw, workload_type)
