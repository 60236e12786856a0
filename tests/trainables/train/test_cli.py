"""``python -m trainables.train``: bad input gets one line (its Ray Train runs: tests/trainables/test_ray_train.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainables.train", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "RAY_DEDUP_LOGS": "0"},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/nonexistent/lakehelm", "--benchmark", "toy", "--sf", "1"], "does not exist"),
        (["--benchmark", "tpcz", "--sf", "1"], "unknown benchmark 'tpcz'"),
        (["--benchmark", "toy", "--sf", "3"], "no scale factor 3 for benchmark toy"),
        (["--benchmark", "toy", "--sf", "1", "--epochs", "0"], "must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_line(
    lakehelm_root: Path, tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process (the command line's own wiring: test_gpu_without_cuda_is_refused)."""
    from trainables.train._cli import main

    if "--data" not in args:
        args = ["--data", str(lakehelm_root), *args]
    code = main(["moe", *args, "--out", str(tmp_path / "out"), "--no-ray"])
    err = capsys.readouterr().err
    assert code == 2, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_gpu_without_cuda_is_refused(lakehelm_root: Path, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = _run("moe", "--data", str(lakehelm_root), "--benchmark", "toy", "--sf", "1", "--out", str(tmp_path),
                "--no-ray", "--gpu", timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr


def test_a_missing_dann_corpus_is_a_one_line_error(tmp_path: Path) -> None:
    proc = _run("dann", "--corpus", str(tmp_path / "missing"), "--out", str(tmp_path / "m"), "--no-ray")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and "not a knobray corpus" in proc.stderr


def test_missing_recommender_labels_are_a_one_line_error(tmp_path: Path) -> None:
    proc = _run("recommender", "--labels", str(tmp_path / "none"), "--out", str(tmp_path / "m"), "--no-ray")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and "holds no labels" in proc.stderr
