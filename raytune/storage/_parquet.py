"""Trial records as a Parquet dataset: ``<results>/trials.parquet/``, one file per trial, written atomically.

One file per trial makes appends crash-safe and idempotent: writing a trial id again replaces its row, so a
resumed search never records a trial twice. ``compact()`` merges a finished collection into one file (for
shipping it); a row appended later under a trial id already merged wins over the merged one. Plans are large
and live beside it in ``plans/<trial_id>.json``.
The schema (every field a column; nested fields as JSON text) is the training data of ``trainables/``:

=============== ======= ================================================================================
column          type    meaning
=============== ======= ================================================================================
trial_id        string  unique trial id (Ray Tune's id inside a search)
search_id       string  the search (results directory) the trial belongs to
status          string  SUCCEEDED, REJECTED, CRASHED, TIMED_OUT or INFRA_ERROR (FAILED in older records)
objective       double  total latency in s (OLAP) or throughput in tps (OLTP); null unless SUCCEEDED, but a
                        TIMED_OUT OLAP run keeps its censored total
score           double  what the optimizer saw: the objective, or the penalty (REJECTED, CRASHED, TIMED_OUT);
                        null for INFRA_ERROR, which is never shown to the optimizer
objective_name  string  ``total_latency_s``, ``p95_latency_s``, ``p95_latency_ms`` or ``throughput_tps``
direction       string  ``min`` or ``max``
optimizer       string  hebo, smac, tpe, random or configs
baseline        string  ``default`` or ``rules`` for the baseline trials, else null
engine          string  postgres or mariadb
engine_version  string  server version
workload        string  JSON: name, kind, data key, query file
config          string  JSON: the configuration as requested (knob -> value)
applied         string  JSON: values read back from the server (native units)
hardware        string  JSON: cores, ram_bytes, ssd of the slot (what knob bounds were relative to)
slot            string  JSON: slot index, cpus, memory_bytes, cpu_set, and how CPU and memory were enforced
confirms        string  confirmation trials: ``default``, ``rules`` or the trial id whose config it re-measures
round           int64   confirmation trials: the round (0, 1, ...); null otherwise
per_query       string  JSON: query -> latency_s, samples_s, timed_out (OLAP)
oltp            string  JSON: throughput, p95/p99, per-second samples, steady state (OLTP)
summary         string  JSON: headline numbers
metrics         string  JSON: internal counter deltas
plans_ref       string  path of the plans file, relative to the results directory, or null
timings         string  JSON: seconds per phase
instance        string  JSON: Ray node id and instance index the trial ran on
error           string  one-line reason unless SUCCEEDED
started_at      double  Unix time the trial started
=============== ======= ================================================================================
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from raytune.records import TrialRecord

SCHEMA = pa.schema(
    [
        ("trial_id", pa.string()),
        ("search_id", pa.string()),
        ("status", pa.string()),
        ("objective", pa.float64()),
        ("score", pa.float64()),
        ("objective_name", pa.string()),
        ("direction", pa.string()),
        ("optimizer", pa.string()),
        ("baseline", pa.string()),
        ("engine", pa.string()),
        ("engine_version", pa.string()),
        ("workload", pa.string()),
        ("config", pa.string()),
        ("applied", pa.string()),
        ("hardware", pa.string()),
        ("slot", pa.string()),
        ("confirms", pa.string()),
        ("round", pa.int64()),
        ("per_query", pa.string()),
        ("oltp", pa.string()),
        ("summary", pa.string()),
        ("metrics", pa.string()),
        ("plans_ref", pa.string()),
        ("timings", pa.string()),
        ("instance", pa.string()),
        ("error", pa.string()),
        ("started_at", pa.float64()),
    ]
)
_JSON_FIELDS = (
    "workload",
    "config",
    "applied",
    "hardware",
    "slot",
    "per_query",
    "oltp",
    "summary",
    "metrics",
    "timings",
    "instance",
)


COMPACTED = "trial-0-compacted.parquet"  # sorts before every trial id's file


class TrialStore:
    """The trial records of one results directory."""

    def __init__(self, results_dir: Path, search_id: str | None = None) -> None:
        self.results_dir = Path(results_dir)
        self.dataset_dir = self.results_dir / "trials.parquet"
        self.plans_dir = self.results_dir / "plans"
        self.search_id = search_id or self.results_dir.name

    def append(
        self,
        record: TrialRecord,
        *,
        score: float | None,
        optimizer: str,
        baseline: str | None = None,
        confirms: str | None = None,
        round_: int | None = None,
    ) -> Path:
        """Writes (or replaces) the row of ``record``; returns the file written."""
        self.dataset_dir.mkdir(parents=True, exist_ok=True)
        plans_ref = None
        if record.plans:
            self.plans_dir.mkdir(parents=True, exist_ok=True)
            plans_path = self.plans_dir / f"{record.trial_id}.json"
            _atomic_write(plans_path, json.dumps(record.plans).encode())
            plans_ref = str(plans_path.relative_to(self.results_dir))
        row: dict[str, Any] = {
            "trial_id": record.trial_id,
            "search_id": self.search_id,
            "status": record.status.value,
            "objective": record.objective,
            "score": score,
            "objective_name": record.objective_name,
            "direction": record.direction.value,
            "optimizer": optimizer,
            "baseline": baseline,
            "confirms": confirms,
            "round": round_,
            "engine": record.engine,
            "engine_version": record.engine_version,
            "plans_ref": plans_ref,
            "error": record.error,
            "started_at": record.started_at,
        }
        for name in _JSON_FIELDS:
            row[name] = json.dumps(getattr(record, name), default=str)
        table = pa.Table.from_pylist([row], schema=SCHEMA)
        path = self.dataset_dir / f"trial-{record.trial_id}.parquet"
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        return path

    def rows(self) -> list[dict[str, Any]]:
        """Every row, JSON fields decoded, in start order."""
        files = self._files()
        if not files:
            return []
        rows = _latest(files).to_pylist()
        for row in rows:
            for name in _JSON_FIELDS:
                row[name] = json.loads(row[name]) if row[name] else {}
        return sorted(rows, key=lambda r: r["started_at"] or 0.0)

    def compact(self) -> int:
        """Merges every trial file into one (``trial-0-compacted.parquet``, read first); returns the rows kept.

        Written atomically before the merged files go, so an interruption leaves every row readable.
        """
        files = self._files()  # once: a file appended meanwhile is neither merged nor removed
        if not files:
            return 0
        table = _latest(files)
        path = self.dataset_dir / COMPACTED
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
        for f in files:
            if f != path:
                f.unlink()
        return len(table)

    def __len__(self) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self._files())

    def _files(self) -> list[Path]:
        return sorted(self.dataset_dir.glob("trial-*.parquet")) if self.dataset_dir.exists() else []


def _latest(files: list[Path]) -> pa.Table:
    """The rows of ``files``, one per trial id: a later file's row wins (the compacted file sorts first)."""
    table = pa.concat_tables([_read(f) for f in files])
    last = {trial_id: i for i, trial_id in enumerate(table.column("trial_id").to_pylist())}
    return table.take(sorted(last.values()))


def _read(path: Path) -> pa.Table:
    """One trial file in the current schema; columns added since it was written read as null."""
    table = pq.read_table(path)
    for name in SCHEMA.names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(len(table), SCHEMA.field(name).type))
    return table.select(SCHEMA.names).cast(SCHEMA)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
