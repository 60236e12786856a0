"""The recommender's training loop: plain PyTorch, one function per worker (Ray Train runs it on each worker with
gradients averaged across them; it also runs alone in one process, on CPU or GPU).

Loss: cross-entropy of each knob's bucket under teacher forcing (label smoothing 0.05). The epoch kept is the
one with the best bucket accuracy on validation workloads (held out whole; never test data).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trainables._parallel import average_gradients, broadcast_parameters
from trainables.dann._loop import normalise
from trainables.recommender._buckets import BUCKETS
from trainables.recommender._data import RecommenderData
from trainables.recommender._model import RecommenderArch, RecommenderNet

Report = Callable[[dict[str, float], dict[str, Any] | None], None]


@dataclass(frozen=True)
class RecommenderConfig:
    """Training settings."""

    epochs: int = 40
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-2
    patience: int = 10
    label_smoothing: float = 0.05
    seed: int = 0
    d_model: int = 128
    n_heads: int = 4
    top_layers: int = 1
    decoder_layers: int = 2
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def arch_for(data: RecommenderData, cfg: RecommenderConfig) -> RecommenderArch:
    return RecommenderArch(
        data.vocabulary, data.bucket_counts, int(data.states[0].shape[1]), int(data.numeric.shape[1]),
        cfg.d_model, cfg.n_heads, cfg.top_layers, cfg.decoder_layers, cfg.dropout,
    )  # fmt: skip


def numeric_stats(numeric: np.ndarray) -> dict[str, list[float]]:
    return {"numeric_mean": numeric.mean(axis=0).tolist(), "numeric_sd": numeric.std(axis=0).tolist()}


def pad_states(states: list[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token states [B, T, dim] (float32, zero-padded) and the padding mask [B, T] (True at padding)."""
    t = max(s.shape[0] for s in states)
    out = np.zeros((len(states), t, states[0].shape[1]), dtype=np.float32)
    pad = np.ones((len(states), t), dtype=bool)
    for i, s in enumerate(states):
        out[i, : s.shape[0]] = s
        pad[i, : s.shape[0]] = False
    return torch.as_tensor(out, device=device), torch.as_tensor(pad, device=device)


def batch_tensors(
    data: RecommenderData, rows: np.ndarray, stats: dict[str, Any], device: torch.device
) -> dict[str, torch.Tensor]:
    text, pad = pad_states([data.states[int(i)] for i in data.text_index[rows]], device)
    numeric = normalise(data.numeric[rows], stats["numeric_mean"], stats["numeric_sd"])
    targets = torch.as_tensor(data.targets[rows], device=device)
    previous = torch.full_like(targets, BUCKETS)
    previous[:, 1:] = targets[:, :-1].clamp(min=0)
    return {"text": text, "pad": pad, "numeric": torch.as_tensor(numeric, device=device),
            "knobs": torch.as_tensor(data.knobs[rows], device=device), "targets": targets, "previous": previous}  # fmt: skip


def _logits(model: RecommenderNet, b: dict[str, torch.Tensor]) -> torch.Tensor:
    memory, pad = model.encode(b["text"], b["pad"], b["numeric"])
    return model(memory, pad, b["knobs"], b["previous"])


def smoothed_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Cross-entropy with label smoothing spread over each row's valid buckets only (masked ones are -inf)."""
    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(1, targets[:, None]).squeeze(1)
    valid = torch.isfinite(logp)
    uniform = -(logp.masked_fill(~valid, 0.0).sum(dim=1) / valid.sum(dim=1))
    return ((1 - smoothing) * nll + smoothing * uniform).mean()


def evaluate_rows(
    model: RecommenderNet,
    data: RecommenderData,
    rows: np.ndarray,
    stats: dict[str, Any],
    device: torch.device,
) -> dict[str, float]:
    """Teacher-forced cross-entropy and greedy bucket accuracy (exact, and within one bucket) over ``rows``."""
    model.eval()
    loss = correct = near = total = 0.0
    with torch.no_grad():
        for start in range(0, len(rows), 64):
            b = batch_tensors(data, rows[start : start + 64], stats, device)
            logits = _logits(model, b)
            valid = b["targets"] >= 0
            loss += float(F.cross_entropy(logits[valid], b["targets"][valid], reduction="sum"))
            pick = logits.argmax(dim=-1)
            correct += float((pick == b["targets"])[valid].sum())
            near += float(((pick - b["targets"]).abs() <= 1)[valid].sum())
            total += float(valid.sum())
    total = max(total, 1.0)
    return {"ce": loss / total, "accuracy": correct / total, "within_one": near / total}


def train_recommender(
    data: RecommenderData,
    train: np.ndarray,
    val: np.ndarray,
    cfg: RecommenderConfig,
    *,
    rank: int = 0,
    world: int = 1,
    device: str = "cpu",
    report: Report | None = None,
) -> dict[str, Any] | None:
    """Trains on rows ``train`` (this worker: its share), keeps the epoch with the best validation accuracy;
    returns that state (None if no epoch was kept)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed * 1000 + rank)
    dev = torch.device(device)
    stats = numeric_stats(data.numeric[train])
    arch = arch_for(data, cfg)
    model = RecommenderNet(arch).to(dev)
    broadcast_parameters(model, world)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    mine = train[rank::world]
    steps = max(1, math.ceil(len(train) / world / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.1)
    best_state, best, waited = None, -math.inf, 0
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(len(mine))
        total = 0.0
        for step in range(steps):
            pick = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            if len(pick) == 0:
                pick = order[: cfg.batch_size]
            b = batch_tensors(data, mine[pick], stats, dev)
            logits = _logits(model, b)
            valid = b["targets"] >= 0
            loss = smoothed_cross_entropy(logits[valid], b["targets"][valid], cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()
            average_gradients(model.parameters(), world)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
        val_metrics = evaluate_rows(model, data, val, stats, dev) if len(val) else {"accuracy": -total}
        metrics = {"epoch": epoch, "train_ce": total / steps, "seconds": time.perf_counter() - t0,
                   **{f"val_{k}": v for k, v in val_metrics.items()}}  # fmt: skip
        state = None
        if val_metrics["accuracy"] > best + 1e-4:
            best, waited = val_metrics["accuracy"], 0
            state = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                     "arch": arch.to_dict(), "stats": stats, "epoch": epoch, "validation": val_metrics,
                     "engines": list(data.engines),
                     "config": cfg.to_dict()}  # fmt: skip
            best_state = state
        else:
            waited += 1
        if report is not None:
            report(metrics, state)
        if waited >= cfg.patience:
            break
    return best_state
