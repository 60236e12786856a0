"""The tuning benchmark's --quick mode as a smoke test (real Ray, real PostgreSQL; tiny scale)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raytune.storage import TrialStore
from tests.overlap import max_overlap

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_tuning_benchmark_writes_results(tmp_path: Path) -> None:
    # A previous run's leftovers in the work directory must not be counted as this run's trials.
    stale = tmp_path / "work" / "pg-tpch-quick" / "random" / "seed0" / "trials.parquet"
    stale.mkdir(parents=True)
    (stale / "stale.parquet").write_bytes(b"not a trial store")
    proc = _bench(tmp_path)
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
        assert len(result["remeasure"][method]["ratio_best_to_default"]["per_pair"]) == 1
    assert set(result["remeasure"]) == {"rules", "random", "tpe"}
    assert not (stale / "stale.parquet").exists()
    assert result["methods"]["default"]["best_objective"]["mean"] > 0
    assert len(result["methods"]["default"]["best_objective"]["per_search"]) == 2  # one per method and seed
    assert (tmp_path / "out" / "tuning-pg-tpch-quick.png").stat().st_size > 1000

    # Re-measuring the recorded best configs again: default and best alternate on one instance, never at once.
    again = _bench(tmp_path, "--remeasure-only", "random,tpe")
    assert again.returncode == 0, again.stderr[-2000:]
    redone = json.loads((tmp_path / "out" / "tuning-pg-tpch-quick.json").read_text())
    assert redone["methods"] == result["methods"]
    assert redone["remeasure_previous"] == {m: result["remeasure"][m] for m in ("random", "tpe")}
    assert [run["command"].split()[-1] for run in redone["remeasure_runs"]] == ["random,tpe"]
    assert redone["remeasure"]["rules"] == result["remeasure"]["rules"]  # not named, so kept
    for method in ("random", "tpe"):
        rows = TrialStore(tmp_path / "work" / "pg-tpch-quick" / "remeasure" / method).rows()
        assert [r["config"] for r in rows] == [{}, result["methods"][method]["best_config"]]
        assert max_overlap(rows) == 1
        assert len(redone["remeasure"][method]["best"]) == 1


def test_remeasure_only_without_a_recorded_run_fails_clearly(tmp_path: Path) -> None:
    proc = _bench(tmp_path, "--remeasure-only")
    assert proc.returncode == 2
    assert "no recorded run at" in proc.stderr and "run the scenario first" in proc.stderr
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "tuning-pg-tpch-quick.json").write_text("{}")
    proc = _bench(tmp_path, "--remeasure-only", "tpe,bogus")
    assert proc.returncode == 2 and "cannot re-measure bogus" in proc.stderr


def _bench(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
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
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ},
    )
