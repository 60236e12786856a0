"""The corpus on disk: a versioned, append-only Parquet dataset of measurements and workloads.

Layout of a corpus directory::

    manifest.json                   {"schema_version": 1, ...}: a reader refuses a version it does not know
    measurements/part-*.parquet     one row per measured (workload, config, domain): MEASUREMENT_SCHEMA
    workloads/part-*.parquet        one row per (workload, domain): queries, features, plans: WORKLOAD_SCHEMA
    CARD.md                         the dataset card (``python -m raytune.corpus card DIR``)

A *domain* is an engine and a slot shape (``postgres/1cpu-11.8g``): the unit of transfer of the DANN cost
model. Rows are never rewritten: ``append`` adds a part file with the rows whose keys are new (trial id for
measurements; workload id and domain for workloads), so adding the same search twice adds nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from raytune.errors import KnobrayError

SCHEMA_VERSION = 1

MEASUREMENT_SCHEMA = pa.schema(
    [
        ("trial_id", pa.string()),  # the record's trial id: the key
        ("search_id", pa.string()),  # the results directory it came from
        ("domain", pa.string()),  # engine/<cpus>cpu-<GB>g
        ("engine", pa.string()),
        ("engine_version", pa.string()),
        ("slot_cpus", pa.int64()),
        ("slot_memory_bytes", pa.int64()),
        ("workload_id", pa.string()),  # <data>[:<query file stem>], e.g. tpch-sf0.1:tpch_3
        ("kind", pa.string()),  # olap or oltp
        ("status", pa.string()),  # SUCCEEDED, REJECTED, CRASHED, TIMED_OUT
        ("is_default", pa.bool_()),  # the server's default configuration
        ("objective_name", pa.string()),
        ("objective", pa.float64()),
        ("mean_latency_s", pa.float64()),  # OLAP: mean over the queries (the cost the models learn)
        ("throughput_tps", pa.float64()),  # OLTP
        ("config", pa.string()),  # JSON: knob -> value as requested (native units)
        ("applied", pa.string()),  # JSON: values read back from the server
        ("per_query", pa.string()),  # JSON: query name -> latency in s
        ("metrics_per_s", pa.string()),  # JSON: internal counter deltas per second of the measured run
        ("run_s", pa.float64()),
        ("started_at", pa.float64()),
    ]
)

WORKLOAD_SCHEMA = pa.schema(
    [
        ("workload_id", pa.string()),
        ("domain", pa.string()),
        ("engine", pa.string()),
        ("kind", pa.string()),
        ("data", pa.string()),  # the data set the queries run on, e.g. tpch-sf0.1
        ("source", pa.string()),  # the query file's name, or the standard benchmark
        ("queries", pa.string()),  # JSON: query name -> SQL text (the queries that ran on this engine)
        ("dropped", pa.string()),  # JSON: query name -> why it was left out on this engine
        ("features", pa.string()),  # JSON: E2ETune workload features
        ("plans", pa.string()),  # JSON: query name -> compact operator tree under the default config
    ]
)

_TABLES = {"measurements": MEASUREMENT_SCHEMA, "workloads": WORKLOAD_SCHEMA}


class Corpus:
    """A corpus directory (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def create(self) -> Corpus:
        """Creates an empty corpus (or opens an existing one of this schema version)."""
        if self.exists():
            self.check_version()
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        self._write_manifest(
            {"schema_version": SCHEMA_VERSION, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        )
        return self

    def manifest(self) -> dict[str, Any]:
        if not self.exists():
            raise KnobrayError(
                f"{self.path} is not a knobray corpus (no manifest.json); create one with "
                "python -m raytune.corpus collect or add"
            )
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise KnobrayError(f"{self.manifest_path} is not valid JSON ({exc.msg}); restore it") from None

    def check_version(self) -> None:
        """Raises a one-line ``KnobrayError`` unless the corpus has this knobray's schema version."""
        version = self.manifest().get("schema_version")
        if version != SCHEMA_VERSION:
            raise KnobrayError(
                f"corpus {self.path} has schema version {version}; this knobray reads version {SCHEMA_VERSION}: "
                "use the knobray release that wrote it, or collect the corpus again"
            )

    def _write_manifest(self, data: dict[str, Any]) -> None:
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(self.manifest_path)

    def read(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``measurements`` or ``workloads``, JSON columns decoded."""
        self.check_version()
        schema = _TABLES[table]
        files = sorted((self.path / table).glob("part-*.parquet"))
        if not files:
            return []
        rows = pa.concat_tables([pq.read_table(f, schema=schema) for f in files]).to_pylist()
        json_cols = [f.name for f in schema if f.name in _JSON_COLUMNS]
        for row in rows:
            for col in json_cols:
                row[col] = json.loads(row[col]) if row[col] else {}
        return rows

    def measurements(self) -> list[dict[str, Any]]:
        return self.read("measurements")

    def workloads(self) -> list[dict[str, Any]]:
        return self.read("workloads")

    def append(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """Adds the rows whose keys are new; returns how many were added."""
        self.check_version()
        have = {_key(table, r) for r in self.read(table)}
        new: list[dict[str, Any]] = []
        for row in rows:
            key = _key(table, row)
            if key not in have:
                have.add(key)
                new.append({c: _encode(c, row.get(c)) for c in _TABLES[table].names})
        if not new:
            return 0
        folder = self.path / table
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.Table.from_pylist(new, schema=_TABLES[table]), tmp, compression="zstd")
        tmp.replace(path)
        manifest = self.manifest()
        manifest["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self._write_manifest(manifest)
        return len(new)


_JSON_COLUMNS = {"config", "applied", "per_query", "metrics_per_s", "queries", "dropped", "features", "plans"}


def _encode(column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS and not isinstance(value, str):
        return json.dumps(value if value is not None else {}, sort_keys=True, default=str)
    return value


def _key(table: str, row: dict[str, Any]) -> tuple[str, ...]:
    if table == "measurements":
        return (row["trial_id"],)
    return (row["workload_id"], row["domain"])
