"""The tuning benchmark's --quick mode as a smoke test (real Ray, real PostgreSQL; tiny scale)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_tuning_benchmark_writes_results(tmp_path: Path) -> None:
    # A previous run's leftovers in the work directory must not be counted as this run's trials.
    stale = tmp_path / "work" / "pg-tpch-quick" / "random" / "seed0" / "trials.parquet"
    stale.mkdir(parents=True)
    (stale / "stale.parquet").write_bytes(b"not a trial store")
    proc = subprocess.run(
        [
            sys.executable,
            "bench/tuning.py",
            "--scenario",
            "pg-tpch",
            "--quick",
            "--out",
            str(tmp_path / "out"),
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "out" / "tuning-pg-tpch-quick.json").read_text())
    assert result["direction"] == "min" and result["trials"] == 4
    for method in ("random", "tpe"):
        data = result["methods"][method]
        for key in (
            "best_objective",
            "improvement_over_default_pct",
            "improvement_over_rules_pct",
            "trials_to_within_5pct",
            "wall_s",
            "trial_overhead_pct",
        ):
            assert key in data and "per_seed" in data[key]
        assert data["best_objective"]["mean"] > 0
        assert [len(c) for c in data["curves"]] == [4]
        assert len(result["remeasure"][method]["default"]) == 1
    assert not (stale / "stale.parquet").exists()
    assert result["methods"]["default"]["best_objective"]["mean"] > 0
    assert (tmp_path / "out" / "tuning-pg-tpch-quick.png").stat().st_size > 1000
