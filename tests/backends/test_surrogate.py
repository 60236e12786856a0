"""Searches against a cost model (the surrogate backend): the real search machinery over predictions of a model
trained here on the planted corpus (fake plan embeddings for the in-process search; the command line loads
the real MiniLM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.backends import SurrogateBackend
from raytune.confirmation import search_rows
from raytune.slots import SlotShape
from raytune.trial import MeasureSettings
from raytune.tune import SearchSpec, WorkloadSpec, run_search
from tests.trainables.dann.planted_corpus import GIB, fake_embed, write_planted_corpus
from trainables.dann import CostModel, DannConfig, WorkloadInput, fit_locally, train_cost_model

SHAPE = SlotShape(1, 2 * GIB)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("surrogate")
    corpus = write_planted_corpus(root / "corpus").path
    cfg = DannConfig(epochs=40, patience=40, batch_size=32, d_model=32)
    train_cost_model(corpus, root / "model", cfg, fit_locally(), backend="test", embed=fake_embed)
    return root / "model"


def test_a_search_on_predictions_improves_on_the_default(model_dir: Path, tmp_path: Path) -> None:
    model = CostModel.load(model_dir)
    model.embed = fake_embed  # type: ignore[assignment]
    features = {"num_queries": 4, "read_ratio": 1.0, "predicates_per_query": 1.0}
    workload = WorkloadInput(
        "postgres", 1, 2 * GIB, features, {f"q{i}": "seq scan" for i in range(4)}, {}, "w"
    )
    spec = SearchSpec(
        results_dir=tmp_path / "s", engine="postgres", workload=WorkloadSpec("tpch", 0.1), optimizer="tpe",
        trials=30, instances=1, settings=MeasureSettings(repeats=1), slot_cpus=1, slot_memory_bytes=2 * GIB,
        confirm=0, backend="surrogate",
    )  # fmt: skip
    rows = search_rows(run_search(spec, backend=SurrogateBackend(model, workload, "postgres", SHAPE)).rows())
    assert len(rows) == 30
    assert all(r["instance"]["backend"] == "surrogate" and r["status"] == "SUCCEEDED" for r in rows)
    best = min(rows, key=lambda r: r["objective"])
    default = next(r for r in rows if r["baseline"] == "default")
    assert best["objective"] < default["objective"]
    # every record is the model's prediction of its configuration
    assert best["objective"] == pytest.approx(float(model.predict([best["config"]], workload)[0]), rel=1e-5)


@pytest.mark.slow
def test_surrogate_search_from_the_command_line(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from raytune.search._cli import main

    args = ["--backend", "surrogate", "--model", str(model_dir), "--no-explain", "--optimizer", "hebo",
            "--trials", "12", "--slot-cpus", "1", "--slot-memory", "2GB", "--results", str(tmp_path / "s")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr()
    assert "(predicted by the cost model)" in out.err
    assert "predictions, not measurements" in out.out
    assert main(["--backend", "surrogate", "--model", str(tmp_path), "--results", str(tmp_path / "t")]) == 2
    assert "holds no cost model" in capsys.readouterr().err


def test_warm_start_configs_are_measured_right_after_the_baselines(model_dir: Path, tmp_path: Path) -> None:
    from raytune.tune._run import WARM_START

    model = CostModel.load(model_dir)
    model.embed = fake_embed  # type: ignore[assignment]
    workload = WorkloadInput("postgres", 1, 2 * GIB, {"num_queries": 2, "read_ratio": 1.0}, {}, {}, "w")
    warm = [{"shared_buffers": 65536}, {"shared_buffers": 131072, "work_mem": 65536}]
    spec = SearchSpec(
        results_dir=tmp_path / "s", engine="postgres", workload=WorkloadSpec("tpch", 0.1), optimizer="tpe",
        trials=8, instances=1, settings=MeasureSettings(repeats=1), slot_cpus=1, slot_memory_bytes=2 * GIB,
        confirm=0, backend="surrogate", warm_start=warm,
    )  # fmt: skip
    store = run_search(spec, backend=SurrogateBackend(model, workload, "postgres", SHAPE))
    rows = sorted(search_rows(store.rows()), key=lambda r: r["started_at"])
    assert len(rows) == 8  # the warm-start configs count against --trials
    assert [r["baseline"] for r in rows[:2]] == ["default", "rules"]
    assert [r["optimizer"] for r in rows[2:4]] == [WARM_START, WARM_START]
    assert [r["config"] for r in rows[2:4]] == warm
    assert all(r["optimizer"] == "tpe" for r in rows[4:])
    # resuming changes nothing: every warm-start config is recorded once
    again = run_search(spec, resume=True, backend=SurrogateBackend(model, workload, "postgres", SHAPE))
    assert len(search_rows(again.rows())) == 8
