"""Trial records of searches (or of a collection) into corpus rows: ``python -m raytune.corpus add``."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune.corpus._features import workload_features
from raytune.corpus._plans import compact_plans
from raytune.corpus._store import Corpus
from raytune.errors import KnobrayError
from raytune.storage import TrialStore

if TYPE_CHECKING:
    from raytune.workloads import Query

logger = logging.getLogger(__name__)

GIB = 1024**3
KEPT = ("SUCCEEDED", "REJECTED", "CRASHED", "TIMED_OUT")  # infrastructure failures say nothing of a config
DROPPED_SUFFIX = ".dropped.json"  # beside a query file: query name -> why it was left out on an engine


def domain_of(engine: str, cpus: int, memory_bytes: int) -> str:
    """``postgres/1cpu-11.8g``: an engine and a slot shape."""
    return f"{engine}/{cpus}cpu-{memory_bytes / GIB:.1f}g"


def workload_id(workload: dict[str, Any]) -> str:
    """``tpch-sf0.1`` (the standard queries) or ``tpch-sf0.1:tpch_3`` (a query file over that data)."""
    data = str(workload.get("data") or workload.get("name"))
    qf = workload.get("queries_file")
    return f"{data}:{Path(qf).stem}" if qf else data


def _shape(row: dict[str, Any]) -> tuple[int, int]:
    slot, hw = row.get("slot") or {}, row.get("hardware") or {}
    if slot.get("cpus"):
        return int(slot["cpus"]), int(slot["memory_bytes"])
    return int(hw.get("cores") or 0), int(hw.get("ram_bytes") or 0)


def measurement_row(row: dict[str, Any]) -> dict[str, Any]:
    """One trial-store row as a corpus measurement row."""
    cpus, memory = _shape(row)
    run_s = float((row.get("timings") or {}).get("run_s") or 0.0)
    metrics = row.get("metrics") or {}
    per_s = {k: float(v) / run_s for k, v in metrics.items() if run_s > 0 and isinstance(v, int | float)}
    summary = row.get("summary") or {}
    per_query = {
        q: v.get("latency_s") for q, v in (row.get("per_query") or {}).items() if isinstance(v, dict)
    }
    kind = (row.get("workload") or {}).get("kind", "olap")
    return {
        "trial_id": row["trial_id"],
        "search_id": row.get("search_id"),
        "domain": domain_of(row["engine"], cpus, memory),
        "engine": row["engine"],
        "engine_version": row.get("engine_version") or "",
        "slot_cpus": cpus,
        "slot_memory_bytes": memory,
        "workload_id": workload_id(row.get("workload") or {}),
        "kind": kind,
        "status": row["status"],
        "is_default": not row.get("config"),
        "objective_name": row.get("objective_name"),
        "objective": row.get("objective") if row["status"] == "SUCCEEDED" else None,
        "mean_latency_s": summary.get("mean_latency_s") if row["status"] == "SUCCEEDED" else None,
        "throughput_tps": summary.get("throughput_tps") if row["status"] == "SUCCEEDED" else None,
        "config": row.get("config") or {},
        "applied": row.get("applied") or {},
        "per_query": per_query,
        "metrics_per_s": per_s,
        "run_s": run_s,
        "started_at": row.get("started_at"),
    }


def workload_row(rows: Sequence[dict[str, Any]], results_dir: Path) -> dict[str, Any]:
    """The workload row of one (workload, domain) from its trial rows: queries, features, default plans."""
    first = rows[0]
    desc = first.get("workload") or {}
    parsed, dropped = _queries(desc, first["engine"])
    queries = {name: q.sql for name, q in parsed.items()}
    plans: dict[str, Any] = {}
    for row in rows:
        if not row.get("config") and row.get("plans_ref"):
            path = results_dir / row["plans_ref"]
            if path.is_file():
                plans = compact_plans(json.loads(path.read_text()))
                break
    m = measurement_row(first)
    kind = desc.get("kind", "olap")
    return {
        "workload_id": m["workload_id"],
        "domain": m["domain"],
        "engine": first["engine"],
        "kind": kind,
        "data": str(desc.get("data") or desc.get("name")),
        "source": Path(desc["queries_file"]).name if desc.get("queries_file") else str(desc.get("name")),
        "queries": queries,
        "dropped": dropped,
        "features": workload_features(list(parsed.values())).to_dict() if parsed else {},
        "plans": plans,
    }


def _queries(desc: dict[str, Any], engine: str) -> tuple[dict[str, Query], dict[str, str]]:
    """The workload's queries (by name, each in the dialect it is written in) and the queries left out on
    ``engine`` (name -> why)."""
    if desc.get("kind") != "olap":
        return {}, {}
    from raytune.engines import dialect_of
    from raytune.workloads import make_workload, read_query_file

    qf = desc.get("queries_file")
    if qf:
        path = Path(qf)
        if not path.is_file():
            logger.warning("query file %s is gone: the workload is kept without its queries", qf)
            return {}, {}
        sidecar = path.with_name(path.name + DROPPED_SUFFIX)
        dropped = json.loads(sidecar.read_text()).get(engine, {}) if sidecar.is_file() else {}
        return {q.name: q for q in read_query_file(path)}, dropped
    from raytune.home import ensure_home

    data = str(desc.get("data") or "")
    name = str(desc.get("name"))
    sf = float(data.rsplit("-sf", 1)[1]) if "-sf" in data else 1.0
    workload = make_workload(name, sf=sf, cache_dir=ensure_home() / "data")
    kept = workload.queries_for(dialect_of(engine))
    everything = {q.name for q in workload.queries()}
    return {q.name: q for q in kept}, {
        n: "not expressible on this engine" for n in everything - {q.name for q in kept}
    }


def add_results(corpus: Corpus, results_dirs: Sequence[Path]) -> tuple[int, int]:
    """Appends the trial records of ``results_dirs`` to ``corpus``: (measurements added, workloads added).

    Raises:
        KnobrayError: A directory holds no trial records.
    """
    corpus.create()
    added_m = added_w = 0
    for results in results_dirs:
        rows = [r for r in TrialStore(Path(results)).rows() if r["status"] in KEPT]
        if not rows:
            raise KnobrayError(
                f"{results} holds no trial records to add; pass a search's --results directory"
            )
        added_m += corpus.append("measurements", [measurement_row(r) for r in rows])
        known = {(w["workload_id"], w["domain"]) for w in corpus.workloads()}
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            m = measurement_row(row)
            if (m["workload_id"], m["domain"]) not in known:
                groups.setdefault((m["workload_id"], m["domain"]), []).append(row)
        added_w += corpus.append("workloads", [workload_row(g, Path(results)) for g in groups.values()])
    return added_m, added_w
