"""Corpus collection on real PostgreSQL and MariaDB servers through the real Ray Tune pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.corpus import CollectPlan, Corpus, collect
from raytune.slots import SlotShape

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_ray")]

GOOD = "SELECT l_returnflag, COUNT(*) FROM lineitem WHERE l_quantity > 10 GROUP BY l_returnflag ORDER BY 1"
BROKEN = "SELECT no_such_column FROM orders"


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_collect_drops_bad_queries_resumes_and_builds_the_corpus(tmp_path: Path, engine: str) -> None:
    a, b = tmp_path / "tpch_1.wg", tmp_path / "tpch_2.wg"
    a.write_text(f"{GOOD}\n{BROKEN}\n")
    b.write_text("SELECT COUNT(*) FROM orders WHERE o_totalprice > 1000\n")
    plan = CollectPlan(
        engine,
        (a, b),
        tmp_path / "out",
        sf=0.01,
        shapes=(SlotShape(1, 2 * 1024**3),),
        configs=1,
        perturb=1,
        timeout_s=20,
        query_timeout_s=10,
    )
    corpus = collect(plan)
    rows = corpus.measurements()
    assert len(rows) == 2 * (2 + 1 + 1)  # per workload: default twice, 1 sampled, 1 perturbation
    assert {r["domain"] for r in rows} == {f"{engine}/1cpu-2.0g"}
    ok = [r for r in rows if r["status"] == "SUCCEEDED"]
    assert len(ok) >= 5
    assert all(r["mean_latency_s"] > 0 and r["metrics_per_s"] and r["per_query"] for r in ok)
    workloads = {w["workload_id"]: w for w in corpus.workloads()}
    w1 = workloads["tpch-sf0.01:tpch_1"]
    assert list(w1["queries"].values()) == [GOOD]
    assert len(w1["dropped"]) == 1 and "fails" in next(iter(w1["dropped"].values()))
    assert w1["plans"] and all(tree for tree in w1["plans"].values())
    assert w1["features"]["num_queries"] == 1

    again = collect(plan)  # resumed: everything is recorded, nothing is measured twice
    assert len(Corpus(again.path).measurements()) == len(rows)
