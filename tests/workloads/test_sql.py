"""Query files and dialect translation (pure logic: sqlglot only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.errors import WorkloadError
from raytune.workloads import check_sql, read_query_file, translate

E2ETUNE_WG = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "e2etune" / "olap_workloads" / "tpch_0.wg"
)


def test_sql_file_split_on_semicolons_outside_strings(tmp_path: Path) -> None:
    path = tmp_path / "w.sql"
    path.write_text("SELECT 1;\n-- a comment; with a semicolon\nSELECT ';' AS s;\n\nSELECT 2")
    queries = read_query_file(path)
    assert [q.name for q in queries] == ["w:1", "w:2", "w:3"]
    assert "';'" in queries[1].sql


def test_wg_file_is_one_query_per_line() -> None:
    if not E2ETUNE_WG.exists():
        pytest.skip("shared data not present")
    queries = read_query_file(E2ETUNE_WG)
    lines = [ln for ln in E2ETUNE_WG.read_text().splitlines() if ln.strip()]
    assert len(queries) == len(lines) and queries[0].name == "tpch_0:1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SELECT 1;\nSELEC * FROM t;", "statement 2"),
        ("SELECT (1 + FROM t;", "malformed SQL in w.sql statement 1"),
    ],
)
def test_malformed_sql_names_the_statement(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "w.sql"
    path.write_text(text)
    with pytest.raises(WorkloadError, match=fragment) as err:
        read_query_file(path)
    assert "\n" not in str(err.value)


def test_malformed_wg_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "w.wg"
    path.write_text("SELECT 1\nSELECT FROM WHERE (\n")
    with pytest.raises(WorkloadError, match="w.wg line 2"):
        read_query_file(path)


def test_missing_and_empty_query_files(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="does not exist"):
        read_query_file(tmp_path / "nope.sql")
    empty = tmp_path / "empty.sql"
    empty.write_text("  \n-- nothing\n")
    with pytest.raises(WorkloadError, match="holds no queries"):
        read_query_file(empty)


def test_translation_to_mariadb_inlines_derived_column_aliases() -> None:
    sql = "SELECT c_count, count(*) FROM (SELECT c_custkey, count(o_orderkey) FROM customer GROUP BY c_custkey) AS c(c_custkey, c_count) GROUP BY c_count"
    out = translate(sql, "duckdb", "mysql")
    assert "AS `c`(" not in out and "COUNT(`o_orderkey`) AS `c_count`" in out and ") AS `c` GROUP BY" in out


def test_translation_identity_and_interval_syntax() -> None:
    assert translate("SELECT 1;", "postgres", "postgres") == "SELECT 1"
    out = translate("SELECT date '1998-12-01' - interval '90' day", "duckdb", "mysql")
    assert "INTERVAL" in out.upper()
    check_sql(out, "mysql", "translated")


def test_rollup_becomes_with_rollup_in_a_derived_table_when_ordered() -> None:
    out = translate(
        "SELECT a, b, sum(c) AS s FROM t GROUP BY ROLLUP(a, b) ORDER BY a LIMIT 10", "duckdb", "mysql"
    )
    assert "GROUP BY `a`, `b` WITH ROLLUP) AS `rollup_q`" in out and out.endswith("LIMIT 10")
    plain = translate("SELECT a, sum(c) FROM t GROUP BY ROLLUP(a)", "duckdb", "mysql")
    assert plain.endswith("GROUP BY `a` WITH ROLLUP")


def test_bare_star_moves_first_and_identifiers_fold_to_lower_case() -> None:
    assert translate("SELECT substr(x, 1, 2) AS s, * FROM t", "duckdb", "mysql").startswith(
        "SELECT *, SUBSTRING("
    )
    out = translate("SELECT CATALOG.item FROM (SELECT 1 AS item) CATALOG", "duckdb", "mysql")
    assert "`catalog`.`item`" in out and "AS `catalog`" in out


def test_two_argument_round_gets_a_numeric_argument_on_postgres() -> None:
    out = translate("SELECT round(CAST(x AS DOUBLE), 2) FROM t", "duckdb", "postgres")
    assert out.startswith("SELECT ROUND(CAST(CAST(x AS DOUBLE PRECISION) AS DECIMAL), 2)")
