"""``python -m raytune.recommend`` as a user runs it: the shipped recommender and cost model, real MiniLM, and
real PostgreSQL for ``--measure`` / ``--steps`` and for applying the recommendation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
QUERIES = (
    "select l_returnflag, sum(l_quantity), avg(l_extendedprice) from lineitem where l_shipdate <= date '1998-09-01' "
    "group by l_returnflag order by l_returnflag\n"
    "select o_orderpriority, count(*) from orders join lineitem on l_orderkey = o_orderkey where l_commitdate < "
    "l_receiptdate group by o_orderpriority order by o_orderpriority\n"
    "select c_nationkey, count(*) from customer where c_acctbal > 1000 group by c_nationkey\n"
)


def run(module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ},
    )  # fmt: skip


@pytest.fixture
def queries(tmp_path: Path) -> Path:
    path = tmp_path / "three.wg"
    path.write_text(QUERIES)
    return path


def test_recommends_from_sql_alone_and_the_trial_command_applies_it(queries: Path) -> None:
    done = run(
        "raytune.recommend", "--queries", str(queries), "--slot-cpus", "1", "--slot-memory", "4GB", "--json"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["inputs"] == "SQL only" and doc["slot"] == "1 CPU, 4.0 GB"
    altered = [s for s in doc["statements"] if s.startswith("ALTER SYSTEM SET")]
    assert doc["config"] and len(altered) == len(doc["config"])
    assert "SELECT pg_reload_conf();" in doc["statements"]
    assert isinstance(doc["predicted_gain_pct"], float)
    # the recommendation's own time, once the models are loaded (its speed is bench/recommend.py's to measure)
    assert isinstance(doc["seconds"], float) and doc["seconds"] > 0
    trial = run("raytune.trial", "--engine", "postgres", "--sf", "0.01", "--queries", str(queries),
                "--config", json.dumps(doc["config"]), "--repeats", "1")  # fmt: skip
    assert trial.returncode == 0, trial.stderr[-2000:]
    assert json.loads(trial.stdout)["status"] == "SUCCEEDED"


def test_text_output_lists_statements_and_the_unmeasured_gain(queries: Path) -> None:
    done = run("raytune.recommend", "--queries", str(queries), "--engine", "mariadb", "--top", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SET GLOBAL" in done.stdout and "not measured" in done.stdout


def test_multi_step_measures_each_recommendation_on_a_real_server(queries: Path) -> None:
    done = run("raytune.recommend", "--queries", str(queries), "--sf", "0.01", "--steps", "2", "--slot-cpus", "1",
               "--slot-memory", "2GB", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["inputs"] == "measured under the default"
    assert len(doc["steps"]) == 2 and all(s["measured_ratio"] > 0 for s in doc["steps"])
    assert doc["config"] in [s["config"] for s in doc["steps"]]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--engine", "oracle"], "unknown engine 'oracle'"),
        (["--queries", "/nonexistent/q.sql"], "does not exist"),
        (["--model", "trainables/dann/pretrained"], "not a recommender model"),
        (["--model", "/nonexistent/model"], "holds no recommender"),
        (["--steps", "0"], "--steps must be at least 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    queries: Path,
    args: list[str],
    fragment: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In process (the command line's own wiring: test_an_empty_workload_is_refused)."""
    from raytune.recommend._cli import main

    monkeypatch.chdir(ROOT)
    full = ["--queries", str(queries), *args] if "--queries" not in args else args
    code = main(full)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err


def test_an_empty_workload_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sql"
    empty.write_text("\n")
    done = run("raytune.recommend", "--queries", str(empty), timeout=120)
    assert done.returncode == 2 and "holds no queries" in done.stderr
