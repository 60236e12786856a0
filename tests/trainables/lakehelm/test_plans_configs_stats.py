from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainables.conftest import PLAN_JOIN, PLAN_SCAN
from trainables.lakehelm import ConfigVectorizer, find_plan_file, load_stats, parse_config, parse_spark_plan


def test_optimized_plan_parses_into_a_tree() -> None:
    root = parse_spark_plan(PLAN_JOIN)
    assert root is not None and root.kind == "Aggregate"
    join = root.children[0].children[0]
    assert join.kind == "Join:Inner" and len(join.children) == 2
    scans = [n for n in root.walk() if n.table]
    assert [n.table for n in scans] == ["lineitem", "orders"]  # Relation and RelationV2
    assert [n.op for n in root.walk()] == [
        "Aggregate", "Project", "Join", "Project", "Filter", "Relation", "Project", "RelationV2",
    ]  # fmt: skip


def test_plan_with_triple_equals_headers_and_no_plan() -> None:
    root = parse_spark_plan(PLAN_SCAN)
    assert root is not None and [n.op for n in root.walk()] == ["Sort", "Filter", "Relation"]
    assert parse_spark_plan("no plan here") is None


def test_plan_files_are_found_by_any_spelling(tmp_path: Path) -> None:
    for stem in ("ssb_Q1.1", "tpcds_query7", "tpch_1_db3", "tpch_10_db3", "toy_q5"):
        (tmp_path / f"{stem}_plan.txt").write_text(PLAN_SCAN)
    assert find_plan_file(tmp_path, "ssb", ["q1_1"]).name == "ssb_Q1.1_plan.txt"
    assert find_plan_file(tmp_path, "tpcds", ["tpcds_q7"]).name == "tpcds_query7_plan.txt"
    assert find_plan_file(tmp_path, "tpch", ["db3"], sf=10).name == "tpch_10_db3_plan.txt"
    assert find_plan_file(tmp_path, "toy", ["toy_0_q5", "q5"]).name == "toy_q5_plan.txt"
    assert find_plan_file(tmp_path, "toy", ["q9"]) is None
    assert find_plan_file(tmp_path / "absent", "toy", ["q5"]) is None


def test_configs_parse_positionally_or_by_key() -> None:
    assert parse_config("16;200|0.5;1") == [16.0, 200.0, 0.5, 1.0]
    assert parse_config("spark.executor.memory=4g; spark.sql.files.maxPartitionBytes=128m; a=true") == {
        "spark.executor.memory": 4096.0,
        "spark.sql.files.maxPartitionBytes": 128.0,
        "a": 1.0,
    }
    assert parse_config("x=18GB")["x"] == pytest.approx(18 * 1024)


def test_vectorizer_lays_out_keys_and_standardises() -> None:
    engines = ["trino", "trino", "spark"]
    texts = ["b=2; a=1", "a=3; b=4", "1;2;3"]
    vec = ConfigVectorizer(dim=4).fit(engines, texts)
    x = vec.transform(engines, texts)
    assert x.shape == (3, 4)
    assert x[0, 0] < x[1, 0] and x[0, 1] < x[1, 1]  # a then b, whatever the order in the text
    assert abs(x[:2, 0].mean()) < 1e-6


def test_stats_summarise_histograms(tmp_path: Path) -> None:
    from tests.trainables.conftest import STATS

    (tmp_path / "nation.txt").write_text(STATS)
    stats = load_stats(tmp_path)
    assert stats["nation"].columns == 2 and stats["nation"].buckets == 3
    assert stats["nation"].max_bucket_height == pytest.approx(0.04)
    assert load_stats(tmp_path / "absent") == {}
