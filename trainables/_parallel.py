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
    """Each gradient becomes the mean over the ranks."""
    if world <= 1:
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world
