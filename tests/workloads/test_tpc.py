"""TPC-H / TPC-DS generation (DuckDB, offline) and loading into real servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.errors import WorkloadError
from raytune.measurement import run_olap
from raytune.workloads import TpcWorkload, generate, make_workload


def test_generation_is_cached_and_complete(knobray_home: Path) -> None:
    data = generate("tpch", 0.01, knobray_home / "data")
    assert set(data.tables()) == {
        "region",
        "nation",
        "part",
        "supplier",
        "partsupp",
        "customer",
        "orders",
        "lineitem",
    }
    assert len(data.queries()) == 22
    assert data.csv_path("lineitem").stat().st_size > 100_000
    mtime = (data.root / "schema.json").stat().st_mtime
    assert generate("tpch", 0.01, knobray_home / "data").root == data.root
    assert (data.root / "schema.json").stat().st_mtime == mtime  # reused, not regenerated


@pytest.mark.slow
def test_tpcds_generates_with_99_queries(knobray_home: Path) -> None:
    data = generate("tpcds", 0.01, knobray_home / "data")
    assert len(data.queries()) == 99 and "store_sales" in data.tables()


@pytest.mark.parametrize(
    ("name", "sf", "fragment"),
    [
        ("tpcx", 0.01, "unknown workload 'tpcx'"),
        ("tpch", 0, "scale factor must be positive"),
        ("tpch", -1, "positive"),
    ],
)
def test_bad_workload_arguments(knobray_home: Path, name: str, sf: float, fragment: str) -> None:
    with pytest.raises(WorkloadError, match=fragment):
        make_workload(name, sf=sf, cache_dir=knobray_home / "data")


def test_pgbench_refuses_mariadb(knobray_home: Path) -> None:
    with pytest.raises(WorkloadError, match="postgres only"):
        make_workload("pgbench", sf=1, cache_dir=knobray_home).check("mariadb")


@pytest.mark.slow
def test_tpch_loads_and_all_22_queries_run(engine_instance: object, knobray_home: Path) -> None:
    workload = TpcWorkload("tpch", 0.01, knobray_home / "data")
    workload.load(engine_instance)  # type: ignore[arg-type]
    with engine_instance.connect(workload.database) as conn:  # type: ignore[attr-defined]
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM lineitem")
        assert cur.fetchone()[0] > 50_000
        cur.execute("SELECT count(*) FROM nation")
        assert cur.fetchone()[0] == 25
    result = run_olap(engine_instance, workload.database, workload.queries(), repeats=1, timeout_s=60)  # type: ignore[arg-type]
    assert len(result.queries) == 22 and not result.timed_out
    assert all(q.latency_s > 0 for q in result.queries)
    assert result.total_s == pytest.approx(sum(q.latency_s for q in result.queries))


@pytest.mark.slow
def test_tpcds_loads_and_its_queries_run(engine_instance: object, knobray_home: Path) -> None:
    workload = TpcWorkload("tpcds", 0.01, knobray_home / "data")
    workload.load(engine_instance)  # type: ignore[arg-type]
    queries = workload.queries_for(engine_instance.dialect)  # type: ignore[attr-defined]
    expected_left_out = {"postgres": set(), "mysql": {"q70", "q86"}}[engine_instance.dialect]  # type: ignore[attr-defined]
    assert {q.name for q in workload.queries()} - {q.name for q in queries} == expected_left_out
    result = run_olap(engine_instance, workload.database, queries, repeats=1, warmup=False, timeout_s=60)  # type: ignore[arg-type]
    assert len(result.queries) == len(queries) and not result.timed_out
