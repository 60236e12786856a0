"""The per-worker training loop of the two-gate MoE, in plain PyTorch (runs with or without Ray Train).

Each outer epoch runs the seed's three stages back to back: end-to-end (all parameters; routed MSE + gate
cross-entropy + diversity), gate-focused (gates and pooling only; cross-entropy + diversity) and expert-focused
(experts, config encoder and head; MSE routed by the record's actual engine and lake). After every epoch the
validation workloads are scored, and the state is handed to ``report`` only when validation improved, so the
last checkpoint reported is the one selected on validation. Test queries are never touched here.

With ``world > 1`` (a ``torch.distributed`` process group, as Ray Train's TorchTrainer sets up), every rank
samples its own minibatches and gradients are averaged across ranks before each step.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trainables._parallel import average_gradients, broadcast_parameters
from trainables.lakehelm import Split, sample_workloads
from trainables.moe._features import PRIOR_CLIPPED_RATIO, PRIOR_LOG_RATIO, PreparedData, config_priors
from trainables.moe._model import MoEShape, TwoGateMoE

logger = logging.getLogger(__name__)

SELECTION_MODES = ("prior", "gate", "joint")  # on a validation tie the simpler chooser wins


@dataclass(frozen=True)
class MoEConfig:
    """Training hyper-parameters (the seed's where it names them)."""

    epochs: int = 8
    steps_per_subepoch: int = 15
    stage_subepochs: tuple[int, int, int] = (1, 1, 2)
    batch_records: int = 256
    batch_workloads: int = 32
    lr: float = 1e-3
    tree_weight_decay: float = 1e-3
    weight_decay: float = 1e-5
    lambda_div: float = 0.1
    lambda_rank: float = 0.0  # listwise ranking term over a query's records (0: the seed's losses only)
    rank_queries: int = 8
    gumbel_tau: float = 1.0
    grad_clip: float = 1.0
    seed: int = 0
    eval_workloads: int = 50
    workload_min: int = 3
    workload_max: int = 15
    channels: int = 72
    kernels: int = 4
    residual_prior: bool = True  # the head predicts a correction to the config's training log ratio

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainOutcome:
    """What the loop found: the validation-selected state and the per-epoch history."""

    best_val_ratio: float
    best_mode: str
    best_epoch: int
    state: dict[str, Any] | None
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0


class _Tensors:
    def __init__(self, data: PreparedData, device: torch.device, train_mask: np.ndarray) -> None:
        def t(a: np.ndarray, dt: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(a, dtype=dt, device=device)

        self.node_x = t(data.node_x, torch.float32)
        self.left = t(data.node_left, torch.long)
        self.right = t(data.node_right, torch.long)
        self.tree = t(data.node_tree, torch.long)
        self.has_plan = t(data.has_plan, torch.bool)
        self.rec_query = t(data.rec_query, torch.long)
        self.rec_engine = t(data.combo_engine[data.rec_combo], torch.long)
        self.rec_lake = t(data.combo_lake[data.rec_combo], torch.long)
        conf_x = np.concatenate([data.rec_conf_x, config_priors(data, train_mask)], axis=1)
        self.rec_conf = t(conf_x, torch.float32)
        self.rec_logratio = t(np.log(data.rec_ratio), torch.float32)


def build_model(data: PreparedData, cfg: MoEConfig) -> TwoGateMoE:
    shape = MoEShape(
        node_features=data.node_features,
        conf_features=data.conf_features,
        n_queries=data.n_queries,
        n_engines=len(data.engines),
        n_lakes=len(data.lakes),
        channels=cfg.channels,
        kernels=cfg.kernels,
        prior_column=int(data.rec_conf_x.shape[1]) + PRIOR_LOG_RATIO if cfg.residual_prior else None,
    )
    return TwoGateMoE(shape)


def _gate_labels(data: PreparedData, workloads: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Engine and lake of the combo with the lowest mean best-ratio over each workload's queries."""
    best = data.combo_best_ratio.copy()
    worst = np.where(np.isfinite(best), best, -np.inf).max(axis=1, keepdims=True)
    best = np.where(np.isfinite(best), best, worst)  # an unmeasured combo counts as the query's worst
    combos = np.array([int(np.argmin(best[list(wl)].mean(axis=0))) for wl in workloads])
    return data.combo_engine[combos], data.combo_lake[combos]


def _pad(qemb: torch.Tensor, workloads: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(w) for w in workloads)
    idx = torch.zeros(len(workloads), width, dtype=torch.long, device=qemb.device)
    mask = torch.zeros(len(workloads), width, dtype=torch.bool, device=qemb.device)
    for i, wl in enumerate(workloads):
        idx[i, : len(wl)] = torch.as_tensor(list(wl), device=qemb.device)
        mask[i, : len(wl)] = True
    return qemb[idx], mask


def _single(model: TwoGateMoE, qemb: torch.Tensor) -> torch.Tensor:
    """Workload embeddings of one-query workloads."""
    return model.pool(qemb.unsqueeze(1), torch.ones(qemb.shape[0], 1, dtype=torch.bool, device=qemb.device))


@torch.no_grad()
def choose_records(
    model: TwoGateMoE,
    data: PreparedData,
    queries: Sequence[int],
    mode: str,
    known: np.ndarray,
    device: str = "cpu",
) -> dict[int, int]:
    """For each query, the record (a measured engine, lake and config) the model picks.

    ``known`` marks the training queries (they define the config statistics and the learned no-plan rows).

    ``gate``: the engine and lake by the gates' joint probability (the first such combo the query was measured
    on), then the config with the lowest predicted ratio on it. ``joint``: the lowest predicted ratio over all
    of the query's measured (combo, config) records. ``prior``: no model; the measured record whose config had
    the lowest mean ratio on the training queries (a fixed choice that falls back to the next-best config where
    the best one was not measured), so that validation can prefer it where the model does not help.
    """
    chosen: dict[int, int] = {}
    if mode == "prior":
        prior = config_priors(data, known)[:, PRIOR_CLIPPED_RATIO]
        for q in queries:
            recs = np.flatnonzero(data.rec_query == q)
            chosen[q] = int(recs[np.argmin(prior[recs])])
        return chosen
    model.eval()
    dev = torch.device(device)
    t = _Tensors(data, dev, known)
    qemb = model.encoder(t.node_x, t.left, t.right, t.tree, t.has_plan, torch.as_tensor(known, device=dev))
    for q in queries:
        recs = np.flatnonzero(data.rec_query == q)
        r = torch.as_tensor(recs, device=dev)
        wl = _single(model, qemb[q : q + 1])
        pred = (
            model.predict(
                wl.expand(len(recs), -1),
                qemb[q].expand(len(recs), -1),
                t.rec_engine[r],
                t.rec_lake[r],
                t.rec_conf[r],
            )
            .cpu()
            .numpy()
        )
        if mode == "joint":
            chosen[q] = int(recs[np.argmin(pred)])
            continue
        pe, pl = (torch.softmax(g, dim=1)[0].cpu().numpy() for g in model.gates(wl))
        combo_p = pe[data.combo_engine] * pl[data.combo_lake]
        measured = set(data.rec_combo[recs].tolist())
        combo = next(int(k) for k in np.argsort(-combo_p) if int(k) in measured)
        on_combo = data.rec_combo[recs] == combo
        chosen[q] = int(recs[on_combo][np.argmin(pred[on_combo])])
    return chosen


def score(data: PreparedData, chosen: dict[int, int], workloads: Sequence[Sequence[int]]) -> float:
    """Mean ratio over the workloads' queries of the chosen records."""
    vals = [float(data.rec_ratio[chosen[q]]) for wl in workloads for q in wl]
    return float(np.mean(vals)) if vals else math.nan


def train_moe(
    data: PreparedData,
    split: Split,
    cfg: MoEConfig,
    *,
    rank: int = 0,
    world: int = 1,
    device: str = "cpu",
    report: Callable[[dict[str, float], dict[str, Any] | None], None] | None = None,
) -> TrainOutcome:
    """Trains the MoE on ``split.train`` and selects the epoch and selection mode on ``split.val``."""
    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed * 1000 + rank)
    dev = torch.device(device)
    model = build_model(data, cfg).to(dev)
    broadcast_parameters(model, world)
    groups = model.parameter_groups()
    opt = torch.optim.Adam(
        [
            {"params": groups["encoder"], "weight_decay": cfg.tree_weight_decay},
            {"params": groups["gates"] + groups["experts"], "weight_decay": cfg.weight_decay},
        ],
        lr=cfg.lr,
    )
    total_steps = cfg.epochs * cfg.steps_per_subepoch * sum(cfg.stage_subepochs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps), eta_min=1e-5)
    train = np.array(split.train)
    train_mask = np.zeros(data.n_queries, bool)
    train_mask[train] = True
    t = _Tensors(data, dev, train_mask)
    train_recs = np.flatnonzero(train_mask[data.rec_query])
    val_workloads = sample_workloads(split.val, cfg.eval_workloads, seed=cfg.seed + 7919)
    all_params = list(model.parameters())

    def embed(grad: bool) -> torch.Tensor:
        # Now and then a training query stands in for an unseen plan-less one, so the shared row learns.
        known = torch.as_tensor(train_mask & (rng.random(data.n_queries) > 0.2), device=dev)
        with torch.set_grad_enabled(grad):
            return model.encoder(t.node_x, t.left, t.right, t.tree, t.has_plan, known)

    def mse_loss(qemb: torch.Tensor, routed_by_gate: bool, grad_wl: bool) -> torch.Tensor:
        recs = torch.as_tensor(
            rng.choice(train_recs, size=min(cfg.batch_records, len(train_recs))), device=dev
        )
        q = t.rec_query[recs]
        with torch.set_grad_enabled(grad_wl):
            wl = _single(model, qemb[q])
        pred = model.predict(wl, qemb[q], t.rec_engine[recs], t.rec_lake[recs], t.rec_conf[recs])
        err = (pred - t.rec_logratio[recs]) ** 2
        if routed_by_gate:
            le, ll = model.gates(wl)
            pe = F.gumbel_softmax(le, tau=cfg.gumbel_tau)[torch.arange(len(recs)), t.rec_engine[recs]]
            pl = F.gumbel_softmax(ll, tau=cfg.gumbel_tau)[torch.arange(len(recs)), t.rec_lake[recs]]
            w = (pe * pl).detach()
            err = err * w / w.mean().clamp(min=1e-6)
        return err.mean()

    train_recs_by_query = [np.flatnonzero(data.rec_query == q) for q in train]

    def rank_loss(qemb: torch.Tensor, grad_wl: bool) -> torch.Tensor:
        """Cross-entropy between the softmax of -predicted and of -actual log ratios over each sampled query's
        records: it rewards ranking a query's configs right, which is what choosing needs."""
        total = torch.zeros((), device=dev)
        picks = rng.choice(len(train), size=min(cfg.rank_queries, len(train)), replace=False)
        for i in picks:
            recs_np = train_recs_by_query[i]
            if len(recs_np) > 256:
                recs_np = rng.choice(recs_np, 256, replace=False)
            recs = torch.as_tensor(recs_np, device=dev)
            q = t.rec_query[recs]
            with torch.set_grad_enabled(grad_wl):
                wl = _single(model, qemb[q[:1]]).expand(len(recs), -1)
            pred = model.predict(wl, qemb[q], t.rec_engine[recs], t.rec_lake[recs], t.rec_conf[recs])
            target = torch.softmax(-t.rec_logratio[recs] / 0.1, dim=0)
            total = total - (target * torch.log_softmax(-pred / 0.1, dim=0)).sum()
        return total / len(picks)

    def gate_loss(qemb: torch.Tensor) -> torch.Tensor:
        half = cfg.batch_workloads // 2
        multi = sample_workloads(
            train, half, seed=int(rng.integers(1 << 31)), min_size=cfg.workload_min, max_size=cfg.workload_max
        )
        single = [(int(q),) for q in rng.choice(train, size=cfg.batch_workloads - half)]
        workloads = multi + single
        e_lab, l_lab = _gate_labels(data, workloads)
        x, mask = _pad(qemb, workloads)
        le, ll = model.gates(model.pool(x, mask))
        ce = F.cross_entropy(le, torch.as_tensor(e_lab, device=dev)) + F.cross_entropy(
            ll, torch.as_tensor(l_lab, device=dev)
        )
        div = sum(((torch.softmax(g, 1).mean(0) - 1 / g.shape[1]) ** 2).sum() for g in (le, ll))
        return ce + cfg.lambda_div * div

    def step(loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(all_params, world)
        torch.nn.utils.clip_grad_norm_(all_params, cfg.grad_clip)
        opt.step()
        sched.step()

    best = TrainOutcome(best_val_ratio=math.inf, best_mode="gate", best_epoch=-1, state=None)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        losses = {"stage1": 0.0, "stage2": 0.0, "stage3": 0.0}
        n1, n2, n3 = (s * cfg.steps_per_subepoch for s in cfg.stage_subepochs)
        for _ in range(n1):
            qemb = embed(True)
            loss = mse_loss(qemb, routed_by_gate=True, grad_wl=True) + gate_loss(qemb)
            if cfg.lambda_rank:
                loss = loss + cfg.lambda_rank * rank_loss(qemb, grad_wl=True)
            step(loss)
            losses["stage1"] += loss.item() / max(1, n1)
        for _ in range(n2):
            qemb = embed(False)
            loss = gate_loss(qemb)
            step(loss)
            losses["stage2"] += loss.item() / max(1, n2)
        for _ in range(n3):
            qemb = embed(False)
            loss = mse_loss(qemb, routed_by_gate=False, grad_wl=False)
            if cfg.lambda_rank:
                loss = loss + cfg.lambda_rank * rank_loss(qemb, grad_wl=False)
            step(loss)
            losses["stage3"] += loss.item() / max(1, n3)
        vals = {
            mode: score(data, choose_records(model, data, split.val, mode, train_mask, device), val_workloads)
            for mode in SELECTION_MODES
        }
        mode = min(vals, key=lambda m: vals[m])
        metrics = {"epoch": epoch, **losses, **{f"val_ratio_{m}": v for m, v in vals.items()}}
        metrics["val_ratio"] = vals[mode]
        improved = vals[mode] < best.best_val_ratio - 1e-9
        state = None
        if improved:
            best.best_val_ratio, best.best_mode, best.best_epoch = vals[mode], mode, epoch
            state = {
                "model": copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()}),
                "shape": model.shape.to_dict(),
                "mode": mode,
                "epoch": epoch,
                "val_ratio": vals[mode],
                "config": cfg.to_dict(),
            }
            best.state = state
        metrics["best_val_ratio"] = best.best_val_ratio
        best.history.append(metrics)
        if rank == 0:
            logger.info(
                "epoch %d/%d  loss %.3f/%.3f/%.3f  val ratio gate %.3f joint %.3f prior %.3f  best %.3f (%s, epoch %d)",
                epoch, cfg.epochs, losses["stage1"], losses["stage2"], losses["stage3"],
                vals["gate"], vals["joint"], vals["prior"], best.best_val_ratio, best.best_mode, best.best_epoch,
            )  # fmt: skip
        if report is not None:
            report(metrics, state if rank == 0 else None)
    best.train_seconds = time.perf_counter() - t_start
    return best


def load_model(state: dict[str, Any]) -> TwoGateMoE:
    """Rebuilds the model of a checkpoint state."""
    model = TwoGateMoE(MoEShape(**state["shape"]))
    model.load_state_dict(state["model"])
    return model
