"""Analytical workloads: TPC-H / TPC-DS at any scale, and a user's own schema, data and queries."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from raytune.errors import WorkloadError
from raytune.workloads._base import Workload, WorkloadKind
from raytune.workloads._sql import Query, read_query_file, translate
from raytune.workloads._tpcgen import Column, TpcDataset, generate

if TYPE_CHECKING:
    from raytune.engines import EngineInstance

logger = logging.getLogger(__name__)
_TPC = json.loads((Path(__file__).parent / "data" / "tpc.json").read_text())


def _column_type(column: Column, instance: EngineInstance) -> str:
    return instance.sql.double_type if column.type == "DOUBLE" else column.type


class OlapWorkload(Workload):
    """A workload made of queries; its objective is their latency."""

    kind = WorkloadKind.OLAP

    def __init__(self, queries_file: Path | None = None) -> None:
        self._queries_file = Path(queries_file) if queries_file else None
        self._user_queries = read_query_file(self._queries_file) if self._queries_file else None

    def queries(self) -> list[Query]:
        """The queries to run: the user's file if given, else the workload's own."""
        return list(self._user_queries) if self._user_queries is not None else self.default_queries()

    def queries_for(self, dialect: str) -> list[Query]:
        """The queries that can run on a server of ``dialect``."""
        return self.queries()

    def default_queries(self) -> list[Query]:
        raise WorkloadError(f"workload {self.name} has no queries of its own; pass --queries FILE")

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "queries_file": str(self._queries_file) if self._queries_file else None}


class TpcWorkload(OlapWorkload):
    """TPC-H or TPC-DS at scale factor ``sf``: generated with DuckDB, loaded with keys and statistics."""

    def __init__(self, benchmark: str, sf: float, cache_dir: Path, queries_file: Path | None = None) -> None:
        if benchmark not in _TPC:
            raise WorkloadError(f"unknown benchmark {benchmark!r}; use tpch or tpcds")
        if not sf > 0:
            raise WorkloadError(f"scale factor must be positive, got {sf:g}; pass e.g. --sf 0.01")
        super().__init__(queries_file)
        self.name = benchmark
        self.benchmark = benchmark
        self.database = benchmark  # TPC-H and TPC-DS share table names: one database each
        self.sf = sf
        self.cache_dir = cache_dir

    def data_key(self) -> str:
        return f"{self.benchmark}-sf{self.sf:g}"

    def dataset(self) -> TpcDataset:
        return generate(self.benchmark, self.sf, self.cache_dir)

    def default_queries(self) -> list[Query]:
        return [Query(name, sql, "duckdb") for name, sql in self.dataset().queries()]

    def queries_for(self, dialect: str) -> list[Query]:
        """The standard queries minus those ``dialect`` cannot express (listed in ``data/tpc.json``)."""
        queries = self.queries()
        if self._user_queries is not None:
            return queries
        unsupported = _TPC[self.benchmark]["unsupported"].get(dialect, {})
        for name, why in unsupported.items():
            logger.warning("%s %s is left out on %s: %s", self.benchmark, name, dialect, why)
        return [q for q in queries if q.name not in unsupported]

    def load(self, instance: EngineInstance) -> None:
        data = self.dataset()
        keys = _TPC[self.benchmark]
        load_tables(
            instance, self.database, data.tables(), data.csv_path, keys["primary_keys"], keys["indexes"]
        )


class CustomWorkload(OlapWorkload):
    """A user's schema (SQL file, PostgreSQL dialect), data (``<table>.csv`` with a header) and queries."""

    name = "custom"

    def __init__(self, schema_file: Path, data_dir: Path, queries_file: Path | None) -> None:
        if queries_file is None:
            raise WorkloadError("workload custom needs --queries FILE (and --schema FILE, --data DIR)")
        super().__init__(queries_file)
        self.schema_file = Path(schema_file)
        self.data_dir = Path(data_dir)
        if not self.schema_file.is_file():
            raise WorkloadError(
                f"schema file {self.schema_file} does not exist; pass --schema with a SQL file"
            )
        if not self.data_dir.is_dir():
            raise WorkloadError(
                f"data directory {self.data_dir} does not exist; pass --data with a folder of CSV files"
            )
        self._ddl = read_query_file(self.schema_file)

    def data_key(self) -> str:
        import hashlib

        digest = hashlib.sha256(self.schema_file.read_bytes())
        for csv in sorted(self.data_dir.glob("*.csv")):
            digest.update(csv.name.encode())
            digest.update(str(csv.stat().st_size).encode())
            digest.update(str(csv.stat().st_mtime_ns).encode())
        return f"custom-{digest.hexdigest()[:12]}"

    def load(self, instance: EngineInstance) -> None:
        instance.create_database(self.database)
        with instance.connect(self.database) as conn:
            cur = conn.cursor()
            for stmt in self._ddl:
                cur.execute(translate(stmt.sql, "postgres", instance.dialect))
            for csv in sorted(self.data_dir.glob("*.csv")):
                instance.load_csv(conn, csv.stem, csv, delimiter=",", header=True)
                cur.execute(instance.sql.analyze(csv.stem))


def load_tables(
    instance: EngineInstance,
    database: str,
    tables: dict[str, list[Column]],
    csv_path: object,
    primary_keys: dict[str, list[str]],
    indexes: dict[str, list[list[str]]],
) -> None:
    """Creates ``tables``, bulk-loads their CSV files, then adds keys and indexes and gathers statistics."""
    t0 = time.perf_counter()
    instance.create_database(database)
    with instance.connect(database) as conn:
        cur = conn.cursor()
        for table, columns in tables.items():
            cols = ", ".join(f"{c.name} {_column_type(c, instance)}" for c in columns)
            cur.execute(f"CREATE TABLE {table} ({cols})")
            instance.load_csv(conn, table, csv_path(table))  # type: ignore[operator]
        for table, cols in primary_keys.items():
            if table in tables:
                cur.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(cols)})")
        for table, index_list in indexes.items():
            for i, cols in enumerate(index_list):
                if table in tables:
                    cur.execute(f"CREATE INDEX {table}_ix{i} ON {table} ({', '.join(cols)})")
        for table in tables:
            cur.execute(instance.sql.analyze(table))
            if instance.sql.statements_return_rows:
                cur.fetchall()
    logger.info("loaded %d tables into %s in %.1fs", len(tables), instance.engine, time.perf_counter() - t0)
