"""Data-parallel steps shared by the plain-PyTorch training loops (Ray Train's TorchTrainer sets up the
``torch.distributed`` process group; with one worker both are no-ops)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist


def broadcast_parameters(model: torch.nn.Module, world: int) -> None:
    """Every rank starts from rank 0's weights."""
    if world > 1:
        for p in model.parameters():
            dist.broadcast(p.data, src=0)


def average_gradients(params: Iterable[torch.nn.Parameter], world: int) -> None:
    """Each gradient becomes the mean over the ranks: one all-reduce of all gradients flattened together (one
    collective per step, not one per tensor: on CPU workers the per-call latency dominates small models).

    Every rank must hold gradients for the same parameters (dense, of one dtype and device), as data-parallel
    training of one model does."""
    if world <= 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
