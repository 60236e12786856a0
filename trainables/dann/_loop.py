"""The training loop of the DANN cost model: plain PyTorch, one function per worker (Ray Train runs it on each
worker; it also runs alone in one process, on CPU or GPU).

Loss = Huber on the labelled rows (the source domain and the labelled share of the targets) + CORAL between
the latent codes of source and target rows + the domain classifier's binary cross-entropy through the
gradient-reversal layer (its weight ramps up as in DANN: 2 / (1 + exp(-10 p)) - 1). The epoch kept is the
one with the lowest validation error (validation workloads only; the test workloads are never looked at).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trainables._parallel import average_gradients, broadcast_parameters
from trainables.dann._data import DannData, Split
from trainables.dann._features import GROUPS, group_slices
from trainables.dann._model import DANNArch, DANNCostModel, coral_loss

Report = Callable[[dict[str, float], dict[str, Any] | None], None]


@dataclass(frozen=True)
class DannConfig:
    """Training settings. ``adversarial`` and ``coral`` 0 give the plain network (an ablation baseline)."""

    epochs: int = 100
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 1e-4
    patience: int = 25
    coral: float = 1.0
    adversarial: float = 0.1
    huber_delta: float = 1.0
    label_fraction: float = 0.3
    seed: int = 0
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.15

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainOutcome:
    state: dict[str, Any] | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def arch_for(data: DannData, cfg: DannConfig) -> DANNArch:
    sizes = data.group_sizes or tuple(s.stop - s.start for s in group_slices())
    assert data.group_sizes or len(sizes) == len(GROUPS)
    return DANNArch(
        sizes, data.workload.shape[1], data.hardware.shape[1], data.plan.shape[1],
        cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.dropout,
    )  # fmt: skip


def input_stats(data: DannData, rows: np.ndarray) -> dict[str, list[float]]:
    """Means and SDs of the workload and hardware inputs and of the label (log latency relative to the default),
    over ``rows`` (the labelled train)."""

    def ms(x: np.ndarray) -> tuple[list[float], list[float]]:
        return x.mean(axis=0).tolist(), np.maximum(x.std(axis=0), 1e-6).tolist()

    wm, ws = ms(data.workload[rows])
    hm, hs = ms(data.hardware[rows])
    y = data.y[rows] - data.anchor[rows]
    return {"workload_mean": wm, "workload_sd": ws, "hardware_mean": hm, "hardware_sd": hs,
            "y_mean": [float(y.mean())], "y_sd": [float(max(y.std(), 1e-6))],
            "anchor_mean": [float(data.anchor[rows].mean())]}  # fmt: skip


SD_FLOOR = 0.05  # an input constant in training (one engine, one shape) must not blow up elsewhere
CLIP = 5.0


def normalise(x: np.ndarray, mean: Any, sd: Any) -> np.ndarray:
    """Standardised inputs, clipped: a workload unlike any seen in training stays in range."""
    z = (x - np.asarray(mean, dtype=np.float32)) / np.maximum(np.asarray(sd, dtype=np.float32), SD_FLOOR)
    return np.clip(z, -CLIP, CLIP).astype(np.float32)


def tensors(data: DannData, stats: dict[str, list[float]], device: torch.device) -> dict[str, torch.Tensor]:
    """The model's inputs for every row, normalised with ``stats``, on ``device``; the label is the row's log
    latency relative to its workload's default, standardised."""

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)

    w = normalise(data.workload, stats["workload_mean"], stats["workload_sd"])
    h = normalise(data.hardware, stats["hardware_mean"], stats["hardware_sd"])
    y = (data.y - data.anchor - stats["y_mean"][0]) / stats["y_sd"][0]
    return {"knobs": t(data.knobs), "masks": t(data.masks), "workload": t(w), "plan": t(data.plan),
            "hardware": t(h), "y": t(y)}  # fmt: skip


def _forward(
    model: torch.nn.Module, x: dict[str, torch.Tensor], idx: torch.Tensor, alpha: float = 0.0
) -> Any:
    return model(
        x["knobs"][idx], x["masks"][idx], x["workload"][idx], x["plan"][idx], x["hardware"][idx], alpha
    )


def predict_rows(
    model: torch.nn.Module, x: dict[str, torch.Tensor], idx: np.ndarray, batch: int = 4096
) -> np.ndarray:
    """Normalised predictions for rows ``idx``."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(idx), batch):
            i = torch.as_tensor(idx[start : start + batch], device=x["y"].device)
            out.append(_forward(model, x, i)[0].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def train_dann(
    data: DannData,
    split: Split,
    cfg: DannConfig,
    *,
    rank: int = 0,
    world: int = 1,
    device: str = "cpu",
    report: Report | None = None,
) -> TrainOutcome:
    """Trains on ``split.train`` (labels where ``split.labelled``), keeps the best epoch on ``split.val``."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed * 1000 + rank)
    dev = torch.device(device)
    stats = input_stats(data, split.train[split.labelled])
    x = tensors(data, stats, dev)
    arch = arch_for(data, cfg)
    model = DANNCostModel(arch).to(dev)
    broadcast_parameters(model, world)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train = split.train[rank::world]  # each worker its share
    labelled = split.labelled[rank::world]
    is_target = torch.as_tensor(data.domain != split.source, device=dev)
    y = x["y"]
    # A small corpus still gets some 8 steps an epoch: the batch shrinks (down to 16) before the epoch does.
    batch = min(cfg.batch_size, max(16, len(split.train) // (8 * world)))
    steps = max(1, math.ceil(len(split.train) / world / batch))
    outcome = TrainOutcome()
    best, waited = math.inf, 0
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(len(train))
        totals = np.zeros(3)
        for step in range(steps):
            pick = order[step * batch : (step + 1) * batch]
            if len(pick) == 0:
                pick = order[:batch]
            idx = torch.as_tensor(train[pick], device=dev)
            lab = torch.as_tensor(labelled[pick], device=dev)
            progress = (epoch * steps + step) / (cfg.epochs * steps)
            alpha = 2.0 / (1.0 + math.exp(-10 * progress)) - 1.0
            cost, z, dom = _forward(model, x, idx, alpha)
            task = (
                F.huber_loss(cost[lab], y[idx][lab], delta=cfg.huber_delta) if lab.any() else cost.sum() * 0
            )
            tgt = is_target[idx]
            align = coral_loss(z[~tgt], z[tgt]) if cfg.coral else cost.sum() * 0
            adv = F.binary_cross_entropy_with_logits(dom, tgt.float()) if cfg.adversarial else cost.sum() * 0
            loss = task + cfg.coral * align + cfg.adversarial * adv
            opt.zero_grad()
            loss.backward()
            average_gradients(model.parameters(), world)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            totals += [float(task.detach()), float(align.detach()), float(adv.detach())]
        val_pred = predict_rows(model, x, split.val)
        val_mae = (
            float(np.abs(val_pred - y[split.val].cpu().numpy()).mean())
            if len(split.val)
            else float(totals[0])
        )
        metrics = {"epoch": epoch, "val_mae": val_mae, "task": totals[0] / steps, "coral": totals[1] / steps,
                   "adversarial": totals[2] / steps, "seconds": time.perf_counter() - t0}  # fmt: skip
        outcome.history.append(metrics)
        improved = val_mae < best - 1e-4
        state = None
        if improved:
            best, waited = val_mae, 0
            state = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "arch": arch.to_dict(),
                     "stats": stats, "epoch": epoch, "val_mae": val_mae, "config": cfg.to_dict(),
                     "domains": data.domains, "source": data.domains[split.source]}  # fmt: skip
            outcome.state = state
        else:
            waited += 1
        if report is not None:
            report(metrics, state)
        if waited >= cfg.patience:
            break
    return outcome
