"""``python -m raytune.search --warm-start MODEL_DIR``: the shipped recommender's configs are the first trials
after the baselines of a real search (real Ray, real PostgreSQL)."""

from __future__ import annotations

import pytest

from raytune.confirmation import search_rows
from raytune.storage import TrialStore
from tests.search.test_cli import search

pytestmark = pytest.mark.slow


def test_recommended_configs_come_first_after_the_baselines(tmp_path) -> None:
    results = tmp_path / "s"
    proc = search("--warm-start", "trainables/recommender/pretrained", "--warm-start-configs", "2", "--trials", "5",
                  "--optimizer", "random", "--confirm", "0", "--sf", "0.01", "--instances", "1", "--repeats", "1",
                  "--results", str(results))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warm start: 2 configs" in proc.stderr
    rows = sorted(search_rows(TrialStore(results).rows()), key=lambda r: r["started_at"])
    assert len(rows) == 5
    assert [r["baseline"] for r in rows[:2]] == ["default", "rules"]
    assert [r["optimizer"] for r in rows[2:4]] == ["warm-start", "warm-start"]
    assert rows[4]["optimizer"] == "random"


def test_warm_start_from_an_unreachable_service_or_for_oltp_is_refused(tmp_path) -> None:
    proc = search("--warm-start", "http://127.0.0.1:1", "--results", str(tmp_path / "a"), timeout=300)
    assert proc.returncode == 2 and "cannot reach the knobray service at http://127.0.0.1:1" in proc.stderr
    proc = search("--warm-start", "x", "--workload", "pgbench", "--results", str(tmp_path / "b"), timeout=300)
    assert proc.returncode == 2 and "tunes OLAP workloads" in proc.stderr
