"""The DANN cost model's parts and its in-process training on a planted corpus (pure logic: fake plan
embeddings, no Ray)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from raytune.errors import KnobrayError
from tests.trainables.dann.planted_corpus import GIB, fake_embed, write_planted_corpus
from trainables.dann import (
    FEATURES,
    CostModel,
    DannConfig,
    WorkloadInput,
    coral_loss,
    fit_locally,
    grouped_folds,
    knob_vector,
    load_data,
    make_split,
    reverse_gradient,
    train_cost_model,
)
from trainables.dann._data import source_domain


def test_gradient_reversal_and_coral() -> None:
    x = torch.ones(3, requires_grad=True)
    reverse_gradient(x, 0.5).sum().backward()
    assert torch.allclose(x.grad, torch.full((3,), -0.5))
    a = torch.randn(50, 4)
    assert float(coral_loss(a, a.clone())) == pytest.approx(0.0, abs=1e-7)
    assert float(coral_loss(a, 3 * a)) > 0.01


def test_semantic_knob_map_shares_features_across_engines() -> None:
    pg, pg_mask = knob_vector({"shared_buffers": 131072}, "postgres", 1, 2 * GIB)  # 1 GB in 8 kB pages
    maria, maria_mask = knob_vector({"innodb_buffer_pool_size": GIB}, "mariadb", 1, 2 * GIB)
    buffer = FEATURES.index("buffer_pool")
    assert pg[buffer] == pytest.approx(maria[buffer])
    assert pg_mask[buffer] == maria_mask[buffer] == 1
    assert pg_mask[FEATURES.index("jit")] == 1 and maria_mask[FEATURES.index("jit")] == 0
    bigger, _ = knob_vector({"shared_buffers": 131072}, "postgres", 1, 4 * GIB)
    assert bigger[buffer] < pg[buffer]  # the same setting is a smaller share of a bigger slot


def test_grouped_folds_keep_workloads_together() -> None:
    groups = np.array(["a", "a", "b", "c", "c", "d", "e"], dtype=object)
    folds = grouped_folds(groups, 3, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(7))
    for fold in folds:
        others = set(groups[np.setdiff1d(np.arange(7), fold)].tolist())
        assert not set(groups[fold].tolist()) & others


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_planted_corpus(tmp_path_factory.mktemp("corpus") / "c").path


def test_split_labels_the_source_fully_and_a_share_of_targets(planted: Path) -> None:
    from raytune.corpus import Corpus

    data = load_data(Corpus(planted), fake_embed)
    test = grouped_folds(data.workload_ids, 4, seed=0)[0]
    split = make_split(data, test, label_fraction=0.3, seed=0)
    source = source_domain(data)
    on_source = data.domain[split.train] == source
    assert split.labelled[on_source].all()
    share = split.labelled[~on_source].mean()
    assert 0.15 < share < 0.45
    assert not set(data.workload_ids[split.train].tolist()) & set(data.workload_ids[test].tolist())


def test_trained_in_process_it_ranks_the_planted_effect(planted: Path, tmp_path: Path) -> None:
    cfg = DannConfig(epochs=40, patience=40, batch_size=32, d_model=32, seed=0)
    metrics = train_cost_model(planted, tmp_path / "m", cfg, fit_locally(), backend="test", embed=fake_embed)
    assert metrics["samples"] == 2 * 12 * 14
    assert (tmp_path / "m" / "model.pt").is_file()
    model = CostModel.load(tmp_path / "m")
    model.embed = fake_embed  # type: ignore[assignment]
    features = {"num_queries": 3, "read_ratio": 1.0, "aggregation_ratio": 0.5, "predicates_per_query": 1.0}
    plans = {"q1": "seq scan", "q2": "seq scan", "q3": "seq scan"}
    unseen = WorkloadInput("postgres", 1, 2 * GIB, features, plans, {"db.blks_read": 3000.0}, "unseen")
    small, large = model.predict([{"shared_buffers": 2048}, {"shared_buffers": 131072}], unseen)
    assert large < small  # a bigger buffer pool is planted to be faster
    # Predictions are relative to the workload's latency under the default: a workload whose default run took
    # 0.2 s a query gets predictions on that scale, and the ranking of configurations is unchanged.
    timed = replace(unseen, default_latency_s=0.2)
    ratios = model.predict([{"shared_buffers": 2048}, {"shared_buffers": 131072}], timed) / (3 * 0.2)
    assert 0.2 < ratios[1] < ratios[0] < 5.0
    with pytest.raises(KnobrayError, match="unknown engine 'oracle'"):
        model.predict([{}], WorkloadInput("oracle", 1, GIB))


def test_a_missing_model_or_corpus_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(KnobrayError, match="holds no cost model"):
        CostModel.load(tmp_path)
    with pytest.raises(KnobrayError, match="not a knobray corpus"):
        train_cost_model(
            tmp_path / "none", tmp_path / "m", DannConfig(epochs=1), fit_locally(), backend="test"
        )


def test_noise_ceiling_falls_with_run_noise() -> None:
    from trainables.dann._evaluate import noise_ceiling, run_noise

    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(20), 10)
    truth = rng.normal(0.0, 0.3, len(groups))
    is_default = np.tile(np.array([True, True] + [False] * 8), 20)
    noisy = truth + rng.normal(0.0, 0.1, len(groups))
    noisy[is_default] = np.repeat(rng.normal(0.0, 0.3, 20), 2) + rng.normal(0.0, 0.1, 40)
    sd = run_noise(noisy, groups, is_default)
    assert 0.05 < sd < 0.2
    assert noise_ceiling(truth, groups, 0.0, draws=5) == pytest.approx(1.0)
    assert 0.7 < noise_ceiling(noisy, groups, sd, draws=20) < 0.99
    assert noise_ceiling(noisy, groups, 0.3, draws=20) < noise_ceiling(noisy, groups, sd, draws=20)
