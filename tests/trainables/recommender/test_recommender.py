"""The recommender's labels, data and in-process training on a planted rule (pure logic: fake text backbone,
fake cost predictions, no Ray, no server)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from raytune.errors import KnobrayError
from tests.trainables.dann.planted_corpus import write_planted_corpus
from tests.trainables.recommender.planted_labels import (
    HIGH,
    LOW,
    SHAPE,
    FakeBackbone,
    planted_labels,
    planted_workload,
)
from trainables.dann import WorkloadInput
from trainables.recommender import (
    KnobBuckets,
    Recommender,
    RecommenderConfig,
    Step,
    build_data,
    evaluate_rows,
    grouped_validation,
    measured_labels,
    read_labels,
    surrogate_best,
    train_recommender,
    workload_text,
    write_labels,
)

GIB = 1024**3


def test_measured_labels_take_each_workloads_best_and_make_step_pairs(tmp_path: Path) -> None:
    from raytune.corpus import Corpus

    corpus = write_planted_corpus(tmp_path / "c").path
    labels = measured_labels(Corpus(corpus))
    best = [label for label in labels if label.kind == "measured"]
    assert len(best) == 2 * 12  # one per workload and domain
    assert all(0 < label.ratio < 1.2 for label in best)
    steps = [label for label in labels if label.kind == "step"]
    assert steps and all(s.current_ratio > s.ratio for s in steps)
    write_labels(labels, tmp_path / "labels", {"corpus": str(corpus)})
    again = read_labels(tmp_path / "labels")
    assert [a.config for a in again] == [label.config for label in labels]
    assert again[0].workload == labels[0].workload


def test_a_missing_or_broken_label_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(KnobrayError, match="holds no labels"):
        read_labels(tmp_path)
    (tmp_path / "labels.jsonl").write_text('{"kind": "measured"}\n')
    with pytest.raises(KnobrayError, match="labels.jsonl:1 is not a label"):
        read_labels(tmp_path)


def test_surrogate_search_finds_the_predicted_best() -> None:
    kb = KnobBuckets(*SHAPE)
    i = kb.knobs.index("work_mem")

    def predict(configs, w):  # fake cost model: the more work_mem, the faster
        return [1.0 / (1 + kb.to_buckets(c)[i]) for c in configs]

    config, ratio = surrogate_best(predict, planted_workload(0, 1.0), optimizer="tpe", trials=60, seed=0)
    found, default = kb.to_buckets(config)[i], kb.to_buckets({})[i]
    assert found >= 7
    assert ratio == pytest.approx((1 + default) / (1 + found))


def test_text_puts_features_before_plans_and_shows_the_current_step() -> None:
    w = planted_workload(3, 1.0)
    text = workload_text(w, Step({"work_mem": 4096}, {"db.blks_read": 5.0}, 0.9))
    assert text.index("aggregation 1.00") < text.index("plans:")
    assert "current config: work_mem 4096" in text and "current latency 0.90 of default" in text


@pytest.fixture(scope="module")
def trained() -> tuple[dict, object, np.ndarray]:
    data = build_data(planted_labels(), FakeBackbone())
    in_val = grouped_validation(data.workload_ids, 0.25, seed=0)
    cfg = RecommenderConfig(epochs=30, patience=30, batch_size=16, d_model=32, seed=0)
    state = train_recommender(data, np.flatnonzero(~in_val), np.flatnonzero(in_val), cfg)
    assert state is not None
    return state, data, np.flatnonzero(in_val)


def test_it_learns_the_planted_rule_on_unseen_workloads(trained: tuple) -> None:
    state, data, val = trained
    model = Recommender({**state, "backbone": "fake"})
    model.backbone = FakeBackbone()  # type: ignore[assignment]
    scores = evaluate_rows(model.net, data, val, state["stats"], __import__("torch").device("cpu"))
    assert scores["accuracy"] > 0.8
    kb = KnobBuckets(*SHAPE)
    i = kb.knobs.index("work_mem")
    for aggregation, expected in ((1.0, HIGH), (0.0, LOW)):
        unseen = planted_workload(1001, aggregation)
        configs = model.sample(unseen, n=4, seed=0)
        assert kb.to_buckets(configs[0])[i] == expected  # the most likely buckets come first


def test_inference_ranks_candidates_with_the_cost_model_and_refuses_bad_input(
    trained: tuple, tmp_path: Path
) -> None:
    state, _, _ = trained
    model = Recommender({**state, "backbone": "fake"})
    model.backbone = FakeBackbone()  # type: ignore[assignment]

    class FakeCost:
        def predict(self, configs, w):
            return [1.0 if not c else 0.5 + 0.01 * i for i, c in enumerate(configs)]

    w = planted_workload(7, 1.0)
    candidates = model.sample(w, n=4, seed=0)
    recs = model.recommend(w, cost_model=FakeCost(), candidates=4, top=2)
    assert len(recs) == 2 and recs[0].predicted_ratio <= recs[1].predicted_ratio
    assert recs[0].config == candidates[0]  # the fake cost model rates the first candidate best
    assert recs[0].predicted_gain_pct == pytest.approx(100 * (1 - recs[0].predicted_ratio))
    with pytest.raises(KnobrayError, match="unknown engine 'oracle'"):
        model.recommend(WorkloadInput("oracle", 1, GIB, {"num_queries": 1}))
    with pytest.raises(KnobrayError, match="trained for postgres, not mariadb"):
        model.recommend(WorkloadInput("mariadb", 1, GIB, {"num_queries": 1}))
    with pytest.raises(KnobrayError, match="no queries"):
        model.recommend(WorkloadInput("postgres", 1, GIB, {"num_queries": 0}))
    saved = model.save(tmp_path / "m", {"version": "test"}, {**state, "backbone": "fake"})
    assert Recommender.load(saved).version == "test"
    with pytest.raises(KnobrayError, match="holds no recommender"):
        Recommender.load(tmp_path / "none")


def test_multi_step_feeds_the_best_measurement_back(trained: tuple) -> None:
    state, _, _ = trained
    model = Recommender({**state, "backbone": "fake"})
    model.backbone = FakeBackbone()  # type: ignore[assignment]
    seen: list[dict] = []
    steps: list[Step | None] = []
    sample = model.sample

    def spy(w, step=None, **kw):
        steps.append(step)
        return sample(w, step, **kw)

    model.sample = spy  # type: ignore[method-assign]

    def measure(config):
        seen.append(config)
        return 0.9 - 0.1 * len(seen), {"db.blks_read": 10.0 * len(seen)}

    history = model.recommend_steps(planted_workload(5, 0.0), measure, steps=3)
    assert [round(h.measured_ratio, 2) for h in history] == [0.8, 0.7, 0.6]
    assert len(seen) == 3
    # the first step knows nothing; each later one gets the best measurement so far as its current config
    assert steps[0] is None
    assert steps[1] == Step(seen[0], {"db.blks_read": 10.0}, pytest.approx(0.8))
    assert steps[2].config == seen[1] and steps[2].latency_ratio == pytest.approx(0.7)


def test_batched_search_beats_the_default_under_the_fake_cost_model() -> None:
    from trainables.recommender._labels import batched_best

    kb = KnobBuckets(*SHAPE)
    i = kb.knobs.index("work_mem")

    def predict(configs, w):
        return [1.0 / (1 + kb.to_buckets(c)[i]) for c in configs]

    config, ratio = batched_best(predict, planted_workload(0, 1.0), samples=64, rounds=1, seed=0)
    assert kb.to_buckets(config)[i] == 9
    assert ratio == pytest.approx((1 + kb.to_buckets({})[i]) / 10)
