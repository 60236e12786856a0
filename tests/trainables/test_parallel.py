"""The data-parallel steps on a real two-process gloo group (torch.distributed on loopback; no Ray)."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from trainables._parallel import average_gradients, broadcast_parameters


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model() -> torch.nn.Module:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    model[0].bias.requires_grad_(False)  # a parameter without a gradient, between two with one
    return model


def _gradient(p: torch.nn.Parameter, i: int, rank: int) -> torch.Tensor:
    """Rank r's gradient of parameter i: a different value in every element, scaled by r + 1."""
    return (torch.arange(p.numel(), dtype=p.dtype).view_as(p) + 100 * i) * (rank + 1)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=60))  # fmt: skip
    try:
        torch.manual_seed(rank)  # each rank starts from different weights
        model = _model()
        broadcast_parameters(model, world)
        for i, p in enumerate(model.parameters()):
            if p.requires_grad:
                p.grad = _gradient(p, i, rank)
        average_gradients(model.parameters(), world)
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, f"{out}/weights-{rank}.pt")
        torch.save([p.grad for p in model.parameters()], f"{out}/grads-{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_gradients_become_the_mean_and_weights_rank_zeros(tmp_path: Path) -> None:
    world = 2
    mp.spawn(_worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True)
    weights = [torch.load(tmp_path / f"weights-{r}.pt") for r in range(world)]
    torch.manual_seed(0)
    rank0 = _model().state_dict()
    assert all(torch.equal(weights[r][k], rank0[k]) for r in range(world) for k in rank0)  # broadcast from 0
    params = list(_model().parameters())
    for r in range(world):
        grads = torch.load(tmp_path / f"grads-{r}.pt")
        assert grads[1] is None  # the frozen bias
        for i, (g, p) in enumerate(zip(grads, params, strict=True)):
            if g is not None:  # the mean of the ranks' (x1 and x2): x1.5, element by element
                assert torch.allclose(g, 1.5 * _gradient(p, i, 0)), i
