"""``python -m trainables.train dann|recommender|moe`` on 2 real Ray Train CPU workers (gloo).

The three command lines join one real local Ray that this module starts (as they would join `ray start` or a
cluster), so that Ray starts once for the three instead of once per command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainables.dann.planted_corpus import GIB, write_planted_corpus
from tests.trainables.recommender.planted_labels import HIGH, LOW, SHAPE, planted_labels, planted_workload

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_address(local_ray: str) -> str:
    """The address of the module's real local Ray (2 CPUs), which the command lines join."""
    return local_ray


def _train(ray_address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainables.train", *args],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
        env={**os.environ, "RAY_ADDRESS": ray_address, "RAY_DEDUP_LOGS": "0"},
    )  # fmt: skip


def test_dann_two_workers_learn_the_planted_effect(ray_address: str, tmp_path: Path) -> None:
    corpus = write_planted_corpus(tmp_path / "corpus").path
    done = _train(ray_address, "dann", "--corpus", str(corpus), "--out", str(tmp_path / "m"), "--workers", "2",
                  "--epochs", "12", "--ray-storage", str(tmp_path / "ray"))  # fmt: skip
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


def test_recommender_two_workers_learn_the_planted_rule(ray_address: str, tmp_path: Path) -> None:
    from trainables.recommender import KnobBuckets, Recommender, write_labels

    write_labels(planted_labels(), tmp_path / "labels", {"planted": True})
    done = _train(ray_address, "recommender", "--labels", str(tmp_path / "labels"), "--out", str(tmp_path / "m"),
                  "--workers", "2", "--epochs", "30", "--ray-storage", str(tmp_path / "ray"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((tmp_path / "ray").glob("recommender-seed0-*/checkpoint_*")), "no Ray Train checkpoint"
    assert "validation bucket accuracy" in done.stdout
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["backend"] == "ray-train x2 cpu" and metrics["backbone"] == "minilm-l6-v2"
    assert metrics["validation"]["accuracy"] > 3 * metrics["chance_accuracy"]
    model = Recommender.load(tmp_path / "m")
    kb = KnobBuckets(*SHAPE)
    i = kb.knobs.index("work_mem")
    for aggregation, expected in ((1.0, HIGH), (0.0, LOW)):
        best = model.sample(planted_workload(2001, aggregation), n=1)[0]
        assert kb.to_buckets(best)[i] == expected


def test_moe_two_workers_train_and_keep_a_checkpoint(
    ray_address: str, lakehelm_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = _train(ray_address, "moe", "--data", str(lakehelm_root), "--benchmark", "toy", "--sf", "1",
                  "--epochs", "3", "--steps", "3", "--workers", "2", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == "ray-train x2 cpu" and metrics["epochs"] == 3
    assert metrics["test_ratio"] >= 1.0 and metrics["val_ratio"] >= 1.0 and metrics["best_fixed_ratio"] >= 1.0
    assert metrics["train_seconds"] > 0
    assert (out / "model.pt").stat().st_size > 10_000
    assert list((out / "ray").glob("moe-toy-sf1-seed0/checkpoint_*")), "Ray Train kept no checkpoint"
    assert "epoch 3/3" in done.stderr + done.stdout  # the workers' epoch reports
    assert "test ratio" in done.stdout
