"""bench/moe.py end to end on the synthetic LakeHelm-layout data set, trained in process (``--workers 0``; the
same loop on 2 real Ray Train workers: tests/trainables/train/test_cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainables.conftest import write_lakehelm_layout

ROOT = Path(__file__).resolve().parents[2]


def _run_bench(*args: str, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bench/moe.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_moe_benchmark_writes_results(tmp_path: Path) -> None:
    data = write_lakehelm_layout(tmp_path / "data", benchmark="toy", sf=1)
    out, work = tmp_path / "moe.json", str(tmp_path / "work")
    proc = _run_bench(
        "--data", str(data), "--seeds", "1", "--epochs", "2", "--steps", "4", "--workers", "0", "--out", str(out), "--work", work,
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    (row,) = report["results"]
    assert row["benchmark"] == "toy" and row["sf"] == 1 and row["lakehelm_published_ratio"] is None
    assert len(row["test_ratio"]["per_seed"]) == 1 and row["test_ratio"]["mean"] >= 1.0
    assert row["best_fixed_ratio"]["mean"] >= 1.0 and row["train_seconds"]["mean"] > 0
    assert "toy" in proc.stdout and report["command"].startswith("python bench/moe.py")
    # --collect rebuilds the summary from the per-seed metrics without training
    again = tmp_path / "collected.json"
    proc = _run_bench("--data", str(data), "--collect", "--out", str(again), "--work", work, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (row2,) = json.loads(again.read_text())["results"]
    assert row2["test_ratio"]["per_seed"] == row["test_ratio"]["per_seed"]
