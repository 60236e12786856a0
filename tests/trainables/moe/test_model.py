from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from trainables.lakehelm import load_dataset, sample_workloads, split_queries
from trainables.moe import (
    PRIOR_CLIPPED_RATIO,
    PRIOR_LOG_RATIO,
    SELECTION_MODES,
    AttentionPool,
    MoEConfig,
    MoEJob,
    MoEShape,
    TwoGateMoE,
    build_model,
    choose_records,
    config_priors,
    fit_locally,
    load_model,
    prepare,
    run_job,
    score,
    train_moe,
)

FAST = MoEConfig(epochs=3, steps_per_subepoch=8, channels=16, kernels=2, seed=0)


@pytest.fixture(scope="module")
def toy(lakehelm_root: Path):
    ds = load_dataset(lakehelm_root, "toy", 1)
    return ds, prepare(ds)


def test_prepare_encodes_plans_and_configs(toy) -> None:
    ds, data = toy
    assert data.has_plan.sum() == len(ds.queries) - 2  # two queries have no plan file
    assert data.node_x.shape[0] == 1 + 11 * 8 + 11 * 3  # padding row + nodes of 11 join and 11 scan plans
    assert np.all(data.node_x[0] == 0) and data.node_tree[0] == -1
    assert data.rec_conf_x.shape == (len(ds.rec_latency_ms), 16 + len(ds.combos))


def test_config_priors_leave_the_own_query_out(toy) -> None:
    ds, data = toy
    train = np.zeros(data.n_queries, bool)
    train[:2] = True  # two training queries
    pri = config_priors(data, train)
    r = np.flatnonzero(data.rec_query == 0)[0]
    # Query 0's record sees only query 1's measurement of the same config (plus shrinkage), not its own.
    same = np.flatnonzero((data.rec_query == 1) & (data.rec_conf == data.rec_conf[r]))
    assert pri[r, 2] == pytest.approx(np.log1p(len(same)))
    assert pri.shape == (len(data.rec_query), 3)


def test_attention_pool_ignores_padding() -> None:
    shape = MoEShape(
        node_features=4, conf_features=3, n_queries=2, n_engines=2, n_lakes=2, channels=4, kernels=2
    )
    pool = AttentionPool(shape)
    q = torch.randn(1, 3, shape.query_dim)
    mask = torch.tensor([[True, True, False]])
    a = pool(q, mask)
    q2 = q.clone()
    q2[0, 2] = 1e3  # changing the padded slot changes nothing
    assert torch.allclose(a, pool(q2, mask)) and a.shape == (1, shape.workload_dim)


def test_model_forward_shapes(toy) -> None:
    _, data = toy
    shape = MoEShape(
        node_features=data.node_features, conf_features=data.conf_features, n_queries=data.n_queries,
        n_engines=2, n_lakes=2, channels=8, kernels=2,
    )  # fmt: skip
    model = TwoGateMoE(shape)
    t = lambda a, dt: torch.as_tensor(a, dtype=dt)  # noqa: E731
    qemb = model.encoder(
        t(data.node_x, torch.float32), t(data.node_left, torch.long), t(data.node_right, torch.long),
        t(data.node_tree, torch.long), t(data.has_plan, torch.bool), torch.zeros(data.n_queries, dtype=torch.bool),
    )  # fmt: skip
    assert qemb.shape == (data.n_queries, shape.query_dim) and torch.isfinite(qemb).all()
    # the two plan-less queries share the unseen-query embedding
    a, b = np.flatnonzero(~data.has_plan)
    assert torch.allclose(qemb[a], qemb[b])
    wl = model.pool(qemb[:5].unsqueeze(0), torch.ones(1, 5, dtype=torch.bool))
    le, ll = model.gates(wl)
    assert le.shape == (1, 2) and ll.shape == (1, 2)
    conf = torch.zeros(1, data.conf_features)
    pred = model.predict(wl, qemb[:1], torch.tensor([1]), torch.tensor([0]), conf)
    assert pred.shape == (1,)


def test_training_learns_the_structure_and_selects_on_validation(toy) -> None:
    ds, data = toy
    split = split_queries(len(ds.queries), 0)
    cfg = MoEConfig(epochs=6, steps_per_subepoch=10, channels=16, kernels=2, seed=0)
    reports: list[tuple[dict, dict | None]] = []
    out = train_moe(data, split, cfg, report=lambda m, s: reports.append((m, s)))
    assert len(reports) == cfg.epochs and out.state is not None
    # a checkpoint is reported exactly when validation improved, so the last one is the selected one
    improved = [m["epoch"] for m, s in reports if s is not None]
    assert improved[-1] == out.best_epoch and out.best_val_ratio == min(m["val_ratio"] for m, _ in reports)
    model = load_model(out.state)
    known = np.zeros(data.n_queries, bool)
    known[list(split.train)] = True
    # The structure is in the plans (join plans favour one combo, scans another); plan-less queries are guesses.
    planned = [q for q in split.test if data.has_plan[q]]
    wls = sample_workloads(planned, 30, seed=5)
    learned = score(data, choose_records(model, data, planned, "joint", known), wls)
    rng = np.random.default_rng(0)
    random_pick = {q: int(rng.choice(ds.records_of(q))) for q in planned}
    assert learned < 0.8 * score(data, random_pick, wls)  # far better than a random (combo, config)
    assert learned < 1.5


def test_local_job_writes_metrics_and_checkpoint(lakehelm_root: Path, tmp_path: Path) -> None:
    job = MoEJob(lakehelm_root, "toy", 1, tmp_path / "out", FAST)
    metrics = run_job(job, fit_locally("cpu"), backend="torch-cpu")
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    for key in ("test_ratio", "val_ratio", "best_fixed_ratio", "epochs", "train_seconds"):
        assert key in saved and saved[key] == metrics[key]
    assert saved["epochs"] == 3 and saved["test_ratio"] >= 1.0
    state = torch.load(tmp_path / "out" / "model.pt", weights_only=False)
    assert state["val_ratio"] == saved["val_ratio"] and state["mode"] in SELECTION_MODES
    choices = json.loads((tmp_path / "out" / "choices.json").read_text())
    assert len(choices) == saved["queries"]["test"] and all(c["ratio"] >= 1 for c in choices)


def test_residual_head_starts_at_the_config_prior(toy) -> None:
    ds, data = toy
    known = np.zeros(data.n_queries, bool)
    known[list(split_queries(len(ds.queries), 0).train)] = True
    model = build_model(data, FAST).eval()
    col = data.rec_conf_x.shape[1] + PRIOR_LOG_RATIO
    assert model.shape.prior_column == col
    conf = torch.as_tensor(np.concatenate([data.rec_conf_x, config_priors(data, known)], axis=1)[:7])
    wl = torch.randn(7, model.shape.workload_dim)
    q = torch.randn(7, model.shape.query_dim)
    with torch.no_grad():
        pred = model.predict(wl, q, torch.zeros(7, dtype=torch.long), torch.zeros(7, dtype=torch.long), conf)
    assert torch.allclose(pred, conf[:, col])  # untrained, the prediction is the prior itself
    plain = build_model(data, MoEConfig(channels=16, kernels=2, residual_prior=False))
    assert plain.shape.prior_column is None


def test_prior_mode_picks_the_config_best_on_training_queries(toy) -> None:
    ds, data = toy
    split = split_queries(len(ds.queries), 0)
    known = np.zeros(data.n_queries, bool)
    known[list(split.train)] = True
    prior = config_priors(data, known)[:, PRIOR_CLIPPED_RATIO]
    a = choose_records(build_model(data, FAST), data, split.test, "prior", known)
    torch.manual_seed(1)
    b = choose_records(build_model(data, FAST), data, split.test, "prior", known)
    assert a == b  # the model plays no part
    for q, rec in a.items():
        recs = np.flatnonzero(data.rec_query == q)
        assert data.rec_query[rec] == q and prior[rec] == prior[recs].min()
