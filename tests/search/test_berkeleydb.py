"""A search on Berkeley DB as a user runs it: real Ray Tune, two embedded instances in their slots, db_perf
trials recorded in the Parquet store with the mix and the per-transaction statistics."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.storage import TrialStore
from tests.search.test_cli import search

pytestmark = pytest.mark.slow


def test_search_runs_dbperf_trials_on_berkeleydb(tmp_path: Path) -> None:
    results = tmp_path / "run"
    proc = search(
        "--engine", "berkeleydb", "--mix", "random:3", "--sf", "0.2", "--duration", "12",
        "--optimizer", "random", "--trials", "2", "--confirm", "0", "--results", str(results),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = TrialStore(results).rows()
    assert len(rows) == 2 and {r["status"] for r in rows} == {"SUCCEEDED"}, [r.get("error") for r in rows]
    assert {r["engine"] for r in rows} == {"berkeleydb"}
    assert {r["baseline"] for r in rows} == {"default", "rules"}
    rules = next(r for r in rows if r["baseline"] == "rules")
    assert rules["applied"]["db_rmw"] == "on" and rules["applied"]["deadlock_policy"] == "minwrite"
    for r in rows:
        assert r["objective"] == pytest.approx(r["oltp"]["throughput_tps"]) and r["objective"] > 0
        assert r["workload"]["name"] == "dbperf" and r["workload"]["items"] == 4900
        assert r["summary"]["per_txn"]["layout.page_size"] == float(r["applied"].get("page_size", 8192))
    assert "throughput_tps (higher is better)" in proc.stdout and "best" in proc.stdout


def test_sql_workload_on_berkeleydb_is_refused_with_one_line() -> None:
    proc = search("--engine", "berkeleydb", "--workload", "tpch", timeout=120)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "runs SQL, which berkeleydb does not have; use --workload dbperf" in lines[0]
