"""``python -m raytune.trial`` as a user runs it: real servers, real exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raytune.trial", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ},
        cwd=Path(__file__).resolve().parents[2],
    )


@pytest.fixture
def bad_sql(tmp_path: Path) -> Path:
    path = tmp_path / "bad.sql"
    path.write_text("SELECT count(*) FROM lineitem;\nSELECT FROM WHERE (;\n")
    return path


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["--config", '{"shared_bufers": "1GB"}'],
            "unknown knob 'shared_bufers' for postgres; did you mean shared_buffers?",
        ),
        (["--config", '{"shared_buffers": "100TB"}'], "knob shared_buffers: '100TB' is out of range"),
        (["--config", '{"work_mem": "lots"}'], "knob work_mem: cannot read 'lots'"),
        (["--config", '{"jit": 3}'], "knob jit: expected on/off"),
        (["--config", '{"fsync": "off"}'], "deny-listed"),
        (["--config", "{not json"], "is not valid JSON"),
        (["--config", "/nonexistent/config.json"], "neither JSON nor an existing file"),
        (["--engine", "oracle"], "unknown engine 'oracle'"),
        (["--workload", "tpcx"], "unknown workload 'tpcx'"),
        (["--sf", "-1"], "scale factor must be positive"),
        (["--engine", "mariadb", "--workload", "pgbench"], "pgbench runs on postgres only"),
        (["--bin-dir", "/nonexistent/bin"], "no PostgreSQL server binary in /nonexistent/bin"),
        (["--engine", "mariadb", "--config", '{"innodb_buffer_pool_size": "1kB"}'], "out of range"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], fragment: str, tmp_path: Path) -> None:
    out = tmp_path / "record.json"
    out.write_text("kept")
    proc = run_cli(*args, "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert proc.stdout == "" and out.read_text() == "kept"  # nothing recorded is lost


def test_malformed_sql_in_query_file(bad_sql: Path) -> None:
    proc = run_cli("--queries", str(bad_sql))
    assert proc.returncode == 2
    assert (
        "malformed SQL in bad.sql statement 2" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    )


@pytest.mark.slow
def test_default_trial_prints_the_record(tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    proc = run_cli(
        "--sf",
        "0.01",
        "--repeats",
        "1",
        "--config",
        '{"shared_buffers": "256MB", "work_mem": "64MB"}',
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    for key in (
        "status",
        "objective",
        "config",
        "applied",
        "per_query",
        "metrics",
        "timings",
        "error",
        "plans",
    ):
        assert key in record
    assert record["status"] == "SUCCEEDED" and record["error"] is None
    assert record["applied"] == {"shared_buffers": "32768", "work_mem": "65536"}
    assert json.loads(out.read_text()) == record


@pytest.mark.slow
def test_config_file_and_failed_trial_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "crash.json"
    config.write_text(json.dumps({"max_connections": 10, "superuser_reserved_connections": 20}))
    proc = run_cli("--config", str(config), "--allow-unsafe", "--repeats", "1", "--no-plans")
    assert proc.returncode == 1
    record = json.loads(proc.stdout)
    assert record["status"] == "CRASHED" and "superuser_reserved_connections" in record["error"]
    assert "trial CRASHED" in proc.stderr


@pytest.mark.slow
def test_user_queries_over_tpch_on_mariadb(tmp_path: Path) -> None:
    queries = tmp_path / "mine.sql"
    queries.write_text("SELECT count(*) FROM lineitem;\nSELECT n_name FROM nation ORDER BY n_name LIMIT 3;")
    proc = run_cli("--engine", "mariadb", "--queries", str(queries), "--repeats", "1")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert list(record["per_query"]) == ["mine:1", "mine:2"] and record["workload"]["queries_file"] == str(
        queries
    )


@pytest.mark.slow
def test_custom_workload_schema_and_data(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20), score DOUBLE PRECISION);"
    )
    (tmp_path / "data" / "t.csv").write_text('id,name,score\n1,a,0.5\n2,b,\\N\n3,"c,d",2\n')
    (tmp_path / "q.sql").write_text("SELECT count(*), sum(score) FROM t WHERE name <> 'x';")
    for engine in ("postgres", "mariadb"):
        proc = run_cli(
            "--engine",
            engine,
            "--workload",
            "custom",
            "--schema",
            str(tmp_path / "schema.sql"),
            "--data",
            str(tmp_path / "data"),
            "--queries",
            str(tmp_path / "q.sql"),
            "--repeats",
            "1",
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["status"] == "SUCCEEDED"
