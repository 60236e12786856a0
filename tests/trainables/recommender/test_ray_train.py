"""``python -m trainables.train recommender`` on 2 real Ray Train CPU workers over the real MiniLM backbone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainables.recommender.planted_labels import HIGH, LOW, SHAPE, planted_labels, planted_workload
from trainables.recommender import KnobBuckets, Recommender, write_labels

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainables.train", "recommender", *args],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip


def test_two_ray_train_workers_learn_the_planted_rule(tmp_path: Path) -> None:
    write_labels(planted_labels(), tmp_path / "labels", {"planted": True})
    done = _train("--labels", str(tmp_path / "labels"), "--out", str(tmp_path / "m"), "--workers", "2",
                  "--epochs", "30", "--ray-storage", str(tmp_path / "ray"))  # fmt: skip
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


def test_missing_labels_are_a_one_line_error(tmp_path: Path) -> None:
    done = _train("--labels", str(tmp_path / "none"), "--out", str(tmp_path / "m"), "--no-ray")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: ") and "holds no labels" in done.stderr
