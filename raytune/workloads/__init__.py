"""Workloads: TPC-H / TPC-DS (generated with DuckDB), query files (incl. E2ETune's .wg), a user's own
schema + data, pgbench and sysbench, and db_perf's transaction mixes for Berkeley DB."""

from __future__ import annotations

from pathlib import Path

from raytune.errors import WorkloadError
from raytune.workloads._base import DATABASE, Workload, WorkloadKind
from raytune.workloads._dbperf import (
    MIXTURES,
    DbPerfResult,
    DbPerfWorkload,
    EmbeddedWorkload,
    ItemSpace,
    TxnMix,
    parse_mix,
    sample_mix,
)
from raytune.workloads._olap import CustomWorkload, OlapWorkload, TpcWorkload, load_tables
from raytune.workloads._oltp import OltpWorkload, PgbenchWorkload, ProgressSample, SysbenchWorkload
from raytune.workloads._sql import Query, check_sql, parse_queries, read_query_file, translate
from raytune.workloads._tpcgen import TpcDataset, generate

WORKLOADS = ("tpch", "tpcds", "pgbench", "sysbench-rw", "sysbench-ro", "custom", "dbperf")


def make_workload(
    name: str,
    *,
    sf: float,
    cache_dir: Path,
    queries_file: Path | None = None,
    schema_file: Path | None = None,
    data_dir: Path | None = None,
    mix: str | None = None,
) -> Workload:
    """Builds workload ``name`` (one of ``WORKLOADS``), checking its inputs before any server is touched.

    Raises:
        WorkloadError: Unknown name or bad inputs, with the fix in the message.
    """
    if mix is not None and name != "dbperf":
        raise WorkloadError(f"--mix applies to dbperf, not {name}")
    if name == "dbperf":
        if queries_file is not None:
            raise WorkloadError(
                "dbperf runs transaction mixes, not queries; pass --mix FILE or --mix random:SEED"
            )
        return DbPerfWorkload(parse_mix(mix), sf=sf)
    if name in ("tpch", "tpcds"):
        return TpcWorkload(name, sf, cache_dir, queries_file)
    if queries_file is not None and name != "custom":
        raise WorkloadError(f"--queries applies to tpch, tpcds or custom, not {name}")
    if name == "pgbench":
        return PgbenchWorkload(scale=sf)
    if name in SysbenchWorkload.TESTS:
        return SysbenchWorkload(name, sf=sf)
    if name == "custom":
        if schema_file is None or data_dir is None:
            raise WorkloadError("workload custom needs --schema FILE and --data DIR (and --queries FILE)")
        return CustomWorkload(schema_file, data_dir, queries_file)
    raise WorkloadError(f"unknown workload {name!r}; use one of: {', '.join(WORKLOADS)}")


__all__ = [
    "DATABASE",
    "MIXTURES",
    "WORKLOADS",
    "CustomWorkload",
    "DbPerfResult",
    "DbPerfWorkload",
    "EmbeddedWorkload",
    "ItemSpace",
    "OlapWorkload",
    "OltpWorkload",
    "PgbenchWorkload",
    "ProgressSample",
    "Query",
    "SysbenchWorkload",
    "TpcDataset",
    "TpcWorkload",
    "TxnMix",
    "Workload",
    "WorkloadKind",
    "check_sql",
    "generate",
    "load_tables",
    "make_workload",
    "parse_mix",
    "parse_queries",
    "read_query_file",
    "sample_mix",
    "translate",
]
