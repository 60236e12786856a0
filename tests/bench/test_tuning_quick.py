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
def test_quick_tuning_benchmark_judges_methods_by_their_confirmed_ratio(tmp_path: Path) -> None:
    # A previous run's leftovers in the work directory must not be counted as this run's trials.
    stale = tmp_path / "work" / "pg-tpch-quick" / "random" / "seed0" / "trials.parquet"
    stale.mkdir(parents=True)
    (stale / "stale.parquet").write_bytes(b"not a trial store")
    # One method: tpe's search is tests/tune's four-trial search.
    proc = _bench(tmp_path, "--methods", "random")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "out" / "tuning-pg-tpch-quick.json").read_text())
    assert result["direction"] == "min" and result["trials"] == 4 and result["confirm"] == 1
    assert list(result["methods"]) == ["random"]
    method = "random"
    data = result["methods"][method]
    run = data["runs"][0]
    assert run["confirmed_ratio_to_default"] > 0 and len(run["confirmed_ratios"]) == 2  # 2 rounds
    assert isinstance(run["significant"], bool) and data["significant"] == [run["significant"]]
    assert run["in_search_ratio_of_crowned"] is None or run["in_search_ratio_of_crowned"] > 0
    assert len(run["curve"]) == 4 and data["wall_s"]["mean"] > 0
    rows = TrialStore(tmp_path / "work" / "pg-tpch-quick" / method / "seed0").rows()
    confirm = [r for r in rows if r["confirms"]]
    assert len(rows) - len(confirm) == 4  # the stale store was not counted
    assert len(confirm) == 6 and max_overlap(confirm) == 1  # default, rules, 1 config x 2 rounds, alone
    assert not (stale / "stale.parquet").exists()
    assert (tmp_path / "out" / "tuning-pg-tpch-quick.png").stat().st_size > 1000
    assert "confirmed/default" in proc.stdout


def test_unknown_method_fails_clearly(tmp_path: Path) -> None:
    proc = _bench(tmp_path, "--methods", "tpe,bogus")
    assert proc.returncode == 2 and "unknown method bogus" in proc.stderr


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
