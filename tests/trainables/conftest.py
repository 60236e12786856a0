"""A small synthetic data set in the LakeHelm layout, with the published data's quirks, made per test session.

Named as what it is: synthetic latencies with a known structure (which combo and which config suit which kind
of query), so that tests can check that learning finds it. The loader, encoder and trainer run for real on it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

ENGINES = ("spark", "trino")
LAKES = ("delta", "iceberg")
N_QUERIES = 24

PLAN_JOIN = """== Parsed Logical Plan ==
'Project ['x]
== Optimized Logical Plan ==
Aggregate [sum(l_extendedprice#11) AS revenue#1]
+- Project [l_extendedprice#11]
   +- Join Inner, (l_orderkey#6L = o_orderkey#75L)
      :- Project [l_orderkey#6L, l_extendedprice#11]
      :  +- Filter (isnotnull(l_orderkey#6L) AND (l_discount#12 > 0.05))
      :     +- Relation db.lineitem[l_orderkey#6L,l_extendedprice#11,l_discount#12] parquet
      +- Project [o_orderkey#75L]
         +- RelationV2[o_orderkey#75L] spark_catalog.toy_iceberg.orders
== Physical Plan ==
AdaptiveSparkPlan isFinalPlan=false
"""

PLAN_SCAN = """=== Optimized Logical Plan ===
Sort [n_name#1 ASC NULLS FIRST], true
+- Filter (isnotnull(n_regionkey#2) AND (n_regionkey#2 = 1))
   +- Relation db.nation[n_name#1,n_regionkey#2] parquet
=== Physical Plan ===
*(1) Sort
"""

STATS = """Table: nation
  Column: n_nationkey
    19: 4.00%: avg = 19: 4.00%, height = 0.0400
    0: 8.00%: avg = 0: 8.00%, height = 0.0400
  Column: n_name
    ALGERIA: 4.00%: avg = 1: 4.00%, height = 0.0400
"""


def _latency(q: int, engine: str, lake: str, conf: tuple[int, int], rng: np.random.Generator) -> float:
    """Join queries (even q) like trino/iceberg and a large first knob; scans (odd q) like spark/delta and a small
    one. The second knob does nothing."""
    join = q % 2 == 0
    base = 3000 + 400 * q
    combo = 1.0 if (engine, lake) == (("trino", "iceberg") if join else ("spark", "delta")) else 1.8
    knob = conf[0] / 64 if join else 1 - conf[0] / 64
    return base * combo * (1 + 2.5 * knob) * rng.uniform(0.97, 1.03)


def write_lakehelm_layout(root: Path, benchmark: str = "toy", sf: int = 1) -> Path:
    """Writes latency CSVs (positional configs for spark, key=val for trino), plans and stats under ``root``."""
    rng = np.random.default_rng(0)
    sf_dir = root / "latency" / benchmark / f"sf{sf}"
    sf_dir.mkdir(parents=True, exist_ok=True)
    confs = [(a, b) for a in (4, 16, 32, 60) for b in (1, 2)]
    for engine in ENGINES:
        for lake in LAKES:
            path = sf_dir / f"{benchmark}_{engine}_{lake}_sf{sf}.csv"
            with path.open("w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["datalake", "engine", "query name", "conf", "latency", "benchmark", "sf"])
                for q in range(N_QUERIES):
                    # Lake-prefixed names (normalised away) for delta, plain ones elsewhere.
                    name = f"{benchmark}_{LAKES.index(lake)}_q{q}" if lake == "delta" else f"q{q}"
                    for conf in confs:
                        text = (
                            f"{conf[0]};{conf[1]}g|1"
                            if engine == "spark"
                            else f"task.concurrency={conf[0]}; query.max-memory={conf[1]}GB"
                        )
                        bench_col = benchmark.replace("-", "_") if q % 3 == 0 else benchmark
                        lat = _latency(q, engine, lake, conf, rng)
                        w.writerow([lake, engine, name, text, f"{lat:.1f}", bench_col, sf])
                        if q == 0 and conf == confs[0]:
                            w.writerow(
                                [lake, engine, name, text, f"{lat * 1.2:.1f}", bench_col, sf]
                            )  # repeat
                    w.writerow([lake, engine, name, "4;1g|1", "1500", benchmark, sf])  # timeout artifact
                    w.writerow([lake, engine, name, "4;1g|1", "900", benchmark, sf])  # under 1500 ms
                    w.writerow([lake, engine, name, "4;1g|1", "0.0", benchmark, sf])  # failed run
    plans = root / "plans"
    plans.mkdir(exist_ok=True)
    for q in range(N_QUERIES - 2):  # the last two queries have no plan
        (plans / f"{benchmark}_q{q}_plan.txt").write_text(PLAN_JOIN if q % 2 == 0 else PLAN_SCAN)
    stats = root / "stats"
    stats.mkdir(exist_ok=True)
    (stats / "nation.txt").write_text(STATS)
    return root


@pytest.fixture(scope="session")
def lakehelm_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lakehelm_layout(tmp_path_factory.mktemp("lakehelm"))
