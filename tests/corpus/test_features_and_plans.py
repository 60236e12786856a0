"""Workload features and compact plans: the workload description the learned models read."""

from __future__ import annotations

import pytest

from raytune.corpus import compact_plan, workload_features
from raytune.workloads import Query

QUERIES = [
    "SELECT n_name, SUM(l_extendedprice) FROM lineitem JOIN nation ON l_suppkey = n_nationkey "
    "WHERE l_shipdate >= '1995-01-01' AND l_discount BETWEEN 0.05 AND 0.07 GROUP BY n_name ORDER BY 2 DESC",
    "SELECT * FROM orders WHERE o_orderkey = 7",
    "UPDATE orders SET o_comment = 'x' WHERE o_orderkey IN (1, 2)",
    "SELECT COUNT(*) FROM part",
]


def test_features_count_clauses_and_predicates() -> None:
    f = workload_features(QUERIES)
    assert f.num_queries == 4
    assert f.read_ratio == pytest.approx(0.75)
    assert f.group_by_ratio == pytest.approx(0.25)
    assert f.order_by_ratio == pytest.approx(0.25)
    assert f.aggregation_ratio == pytest.approx(0.5)
    # q1: join =, >=, BETWEEN; q2: =; q3: IN; q4: none
    assert f.predicates_per_query == pytest.approx(5 / 4)
    assert "size of workload: 4" in f.describe()


def test_features_of_nothing_and_of_unparsable_sql() -> None:
    assert workload_features([]).num_queries == 0
    f = workload_features(["SELEKT broken ((("])
    assert f.num_queries == 1 and f.read_ratio == 1.0


def test_each_query_is_parsed_in_its_own_dialect() -> None:
    mysql = "SELECT `a`, count(*) FROM `t` WHERE `b` = 1 GROUP BY `a`"  # backticks: not PostgreSQL
    own = workload_features([Query("q1", mysql, "mysql")])
    assert (own.group_by_ratio, own.aggregation_ratio, own.predicates_per_query) == (1.0, 1.0, 1.0)
    assert workload_features([mysql], dialect="mysql") == own
    as_postgres = workload_features([mysql])  # unparsable there: a read without clauses
    assert (as_postgres.group_by_ratio, as_postgres.predicates_per_query) == (0.0, 0.0)


def test_postgres_plan_as_compact_tree() -> None:
    plan = [
        {
            "Plan": {
                "Node Type": "Sort",
                "Startup Cost": 100.0,
                "Total Cost": 113.9,
                "Plans": [
                    {
                        "Node Type": "Hash Join",
                        "Startup Cost": 10.0,
                        "Total Cost": 33010.0,
                        "Plans": [
                            {"Node Type": "Seq Scan", "Startup Cost": 0, "Total Cost": 5},
                            {
                                "Node Type": "Hash",
                                "Startup Cost": 3,
                                "Total Cost": 3,
                                "Plans": [{"Node Type": "Seq Scan", "Startup Cost": 0, "Total Cost": 3}],
                            },
                        ],
                    }
                ],
            }
        }
    ]
    assert compact_plan(plan) == "sort(hash join(seq scan, hash(seq scan, 0.0), 33k), 13.9)"


def test_mariadb_plan_as_compact_tree() -> None:
    plan = {
        "query_block": {
            "select_id": 1,
            "filesort": {
                "sort_key": "x",
                "temporary_table": {
                    "nested_loop": [
                        {"table": {"table_name": "region", "access_type": "ALL", "rows": 5}},
                        {"table": {"table_name": "nation", "access_type": "ref", "rows": 5}},
                    ]
                },
            },
        }
    }
    assert compact_plan(plan) == "filesort(temporary table(nested loop(all region 5, ref nation 5)))"


def test_an_unknown_or_failed_plan_is_empty() -> None:
    assert compact_plan({"error": "syntax error"}) == ""
    assert compact_plan(None) == ""
