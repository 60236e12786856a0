"""The corpus store: versioned, append-only, no duplicates; adding a search's records (pure logic over
planted records, no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytune.corpus import Corpus, add_results, domain_counts, render_card
from raytune.corpus._cli import main
from raytune.errors import KnobrayError
from raytune.storage import TrialStore
from tests.backends import planted


def _results_with_queries(tmp_path: Path, n: int = 6) -> Path:
    """Planted records of a workload given as a query file, the default's plans recorded."""
    queries = tmp_path / "tpch_7.wg"
    queries.write_text(
        "SELECT COUNT(*) FROM lineitem GROUP BY l_returnflag\nSELECT * FROM orders WHERE o_orderkey = 1\n"
    )
    store = TrialStore(tmp_path / "results")
    for i, rec in enumerate(planted.planted_records(n)):
        rec.workload = {**rec.workload, "queries_file": str(queries)}
        rec.metrics = {"db.blks_read": 100.0 * (i + 1)}
        rec.timings = {"run_s": 2.0, "total_s": 3.0}
        rec.summary = {"mean_latency_s": rec.objective / 2 if rec.objective else None}
        rec.per_query = {"tpch_7:1": {"latency_s": 0.5}, "tpch_7:2": {"latency_s": 0.1}}
        if i == 0:
            rec.plans = {
                "tpch_7:1": [{"Plan": {"Node Type": "Seq Scan", "Startup Cost": 0, "Total Cost": 1}}]
            }
        rec.started_at = 1_700_000_000.0 + i
        store.append(rec, score=rec.objective, optimizer="random")
    return tmp_path / "results"


def test_add_builds_measurements_and_workloads_once(tmp_path: Path) -> None:
    results = _results_with_queries(tmp_path)
    corpus = Corpus(tmp_path / "corpus")
    assert add_results(corpus, [results]) == (9, 1)
    assert add_results(corpus, [results]) == (0, 0)  # the same search again adds nothing
    rows = corpus.measurements()
    assert len(rows) == 9
    row = next(r for r in rows if r["trial_id"] == "t0001")
    assert row["domain"] == "postgres/1cpu-12.0g"
    assert row["workload_id"] == "tpch-sf0.1:tpch_7"
    assert row["metrics_per_s"] == {"db.blks_read": pytest.approx(500.0 / 2.0)}
    assert row["per_query"] == {"tpch_7:1": 0.5, "tpch_7:2": 0.1}
    assert sum(r["is_default"] for r in rows) == 3
    (w,) = corpus.workloads()
    assert w["queries"] == {
        "tpch_7:1": "SELECT COUNT(*) FROM lineitem GROUP BY l_returnflag",
        "tpch_7:2": "SELECT * FROM orders WHERE o_orderkey = 1",
    }
    assert w["features"]["group_by_ratio"] == pytest.approx(0.5)
    assert w["plans"] == {"tpch_7:1": "seq scan"}
    counts = domain_counts(corpus)["postgres/1cpu-12.0g"]
    assert counts["measurements"] == 9 and counts["workloads"] == 1
    assert counts["default_cv_median"] is not None
    assert "| postgres/1cpu-12.0g |" in render_card(corpus)


def test_an_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    corpus = Corpus(tmp_path / "c").create()
    manifest = json.loads(corpus.manifest_path.read_text())
    corpus.manifest_path.write_text(json.dumps({**manifest, "schema_version": 99}))
    with pytest.raises(KnobrayError, match="schema version 99; this knobray reads version 1"):
        corpus.measurements()


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["card", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not a knobray corpus" in err and "\n" not in err
    assert main(["add", str(tmp_path / "empty"), "--corpus", str(tmp_path / "c")]) == 2
    assert "holds no trial records" in capsys.readouterr().err
    results = _results_with_queries(tmp_path)
    assert main(["add", str(results), "--corpus", str(tmp_path / "c")]) == 0
    assert "added 9 measurements and 1 workloads" in capsys.readouterr().out
    assert (tmp_path / "c" / "CARD.md").is_file()
    query = tmp_path / "q.wg"
    query.write_text("select 1;\n")
    out = tmp_path / "bdb"
    assert main(["collect", "--engine", "berkeleydb", "--workloads", str(query), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "berkeleydb has no SQL" in err and "give --mixes N" in err and "\n" not in err
    for args, says in (([], "needs --mixes N"), (["--mixes", "0"], "give the number of training runs"),
                       (["--mixes", "2", "--duration", "0"], "each must be positive")):  # fmt: skip
        assert main(["collect", "--engine", "berkeleydb", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and says in err and "\n" not in err
    assert main(["collect", "--mixes", "2", "--out", str(out)]) == 2
    assert "use --engine berkeleydb" in capsys.readouterr().err
    assert main(["collect", "--engine", "postgres", "--out", str(out)]) == 2
    assert "collect needs --workloads" in capsys.readouterr().err
    assert not out.exists()
