"""``python -m trainables.train dann`` on 2 real Ray Train CPU workers with the real MiniLM plan embedding."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainables.dann.planted_corpus import GIB, write_planted_corpus

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainables.train", "dann", *args],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip


def test_two_ray_train_workers_learn_the_planted_effect(tmp_path: Path) -> None:
    corpus = write_planted_corpus(tmp_path / "corpus").path
    done = _train("--corpus", str(corpus), "--out", str(tmp_path / "m"), "--workers", "2", "--epochs", "12",
                  "--ray-storage", str(tmp_path / "ray"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((tmp_path / "ray").glob("dann-seed0-*/checkpoint_*")), "no Ray Train checkpoint"
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["backend"] == "ray-train x2 cpu"
    assert metrics["validation"]["pooled"]["spearman"] > 0.5

    from trainables.dann import CostModel, WorkloadInput

    model = CostModel.load(tmp_path / "m")
    features = {"num_queries": 2, "read_ratio": 1.0, "predicates_per_query": 1.0}
    unseen = WorkloadInput("mariadb", 1, 2 * GIB, features, {"a": "seq scan", "b": "seq scan"}, {})
    small, large = model.predict(
        [{"innodb_buffer_pool_size": 16 * 1024**2}, {"innodb_buffer_pool_size": GIB}], unseen
    )
    assert large < small


def test_bad_corpus_is_a_one_line_error(tmp_path: Path) -> None:
    done = _train("--corpus", str(tmp_path / "missing"), "--out", str(tmp_path / "m"), "--no-ray")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: ") and "not a knobray corpus" in done.stderr
