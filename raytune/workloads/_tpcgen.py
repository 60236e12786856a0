"""TPC-H and TPC-DS data and queries, generated offline with DuckDB's dbgen / dsdgen and cached on disk."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from raytune.errors import WorkloadError

logger = logging.getLogger(__name__)

BENCHMARKS = {"tpch": ("dbgen", "tpch_queries"), "tpcds": ("dsdgen", "tpcds_queries")}
NULL_MARKER = "\\N"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type: BIGINT, INTEGER, DECIMAL(15,2), VARCHAR(n), DATE, DOUBLE


@dataclass(frozen=True)
class TpcDataset:
    """A generated data set on disk: one ``|``-separated CSV per table, the schema and the queries."""

    benchmark: str
    sf: float
    root: Path

    def tables(self) -> dict[str, list[Column]]:
        doc = json.loads((self.root / "schema.json").read_text())
        return {t: [Column(c["name"], c["type"]) for c in cols] for t, cols in doc.items()}

    def csv_path(self, table: str) -> Path:
        return self.root / f"{table}.csv"

    def queries(self) -> list[tuple[str, str]]:
        """``(name, sql)`` of the standard queries, in DuckDB's dialect."""
        return [tuple(q) for q in json.loads((self.root / "queries.json").read_text())]  # type: ignore[misc]


def _load_extension(con: object, benchmark: str) -> None:
    import importlib

    module = importlib.import_module(f"duckdb_extension_{benchmark}")
    files = list(Path(module.__file__).parent.rglob("*.duckdb_extension"))  # type: ignore[arg-type]
    if not files:
        raise WorkloadError(
            f"duckdb-extension-{benchmark} ships no extension file; reinstall it (make install)"
        )
    con.execute(f"LOAD '{files[0]}'")  # type: ignore[attr-defined]


def generate(benchmark: str, sf: float, cache_dir: Path) -> TpcDataset:
    """Generates (or reuses) ``benchmark`` at scale ``sf`` under ``cache_dir``.

    Raises:
        WorkloadError: Unknown benchmark or a non-positive scale factor.
    """
    if benchmark not in BENCHMARKS:
        raise WorkloadError(f"unknown benchmark {benchmark!r}; use tpch or tpcds")
    if not sf > 0:
        raise WorkloadError(f"scale factor must be positive, got {sf}; pass e.g. --sf 0.01")
    root = cache_dir / f"{benchmark}-sf{sf:g}"
    done = root / "schema.json"
    if done.exists():
        return TpcDataset(benchmark, sf, root)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{benchmark}-sf{sf:g}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            _generate_into(benchmark, sf, root)
    return TpcDataset(benchmark, sf, root)


def _generate_into(benchmark: str, sf: float, root: Path) -> None:
    import duckdb

    logger.info("generating %s at scale %g in %s", benchmark, sf, root)
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    gen, queries_fn = BENCHMARKS[benchmark]
    con = duckdb.connect()
    _load_extension(con, benchmark)
    con.execute(f"CALL {gen}(sf={sf})")
    schema: dict[str, list[dict[str, str]]] = {}
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables ORDER BY table_name"
        ).fetchall()
    ]
    for table in tables:
        if table == "dbgen_version":
            continue
        cols = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
        columns = []
        for name, dtype in cols:
            if dtype == "VARCHAR":
                width = con.execute(f'SELECT max(length("{name}")) FROM "{table}"').fetchone()[0] or 1
                dtype = f"VARCHAR({max(int(width), 1)})"
            columns.append({"name": name, "type": dtype})
        schema[table] = columns
        con.execute(
            f"COPY \"{table}\" TO '{tmp / (table + '.csv')}' (FORMAT csv, DELIMITER '|', HEADER false, NULLSTR '{NULL_MARKER}')"
        )
    queries = [[f"q{int(n):02d}", q] for n, q in con.execute(f"SELECT * FROM {queries_fn}()").fetchall()]
    (tmp / "queries.json").write_text(json.dumps(queries, indent=1))
    (tmp / "schema.json").write_text(json.dumps(schema, indent=1))
    con.close()
    shutil.rmtree(root, ignore_errors=True)
    os.replace(tmp, root)
