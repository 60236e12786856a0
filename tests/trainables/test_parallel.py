"""The data-parallel steps on a real two-process gloo group (torch.distributed on loopback; no Ray)."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from trainables._parallel import average_gradients, broadcast_parameters


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.manual_seed(rank)  # each rank starts from different weights
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        model[2].bias.requires_grad_(False)  # a parameter without a gradient is left alone
        broadcast_parameters(model, world)
        for p in model.parameters():
            if p.requires_grad:
                p.grad = torch.full_like(p, float(rank + 1))  # rank r: every gradient r + 1
        average_gradients(model.parameters(), world)
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, f"{out}/weights-{rank}.pt")
        torch.save([p.grad for p in model.parameters()], f"{out}/grads-{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_gradients_become_the_mean_and_weights_rank_zeros(tmp_path: Path) -> None:
    world = 2
    mp.spawn(_worker, args=(world, _free_port(), str(tmp_path)), nprocs=world, join=True)
    weights = [torch.load(tmp_path / f"weights-{r}.pt") for r in range(world)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # broadcast from rank 0
    torch.manual_seed(0)
    rank0 = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).state_dict()
    assert all(torch.equal(weights[1][k], rank0[k]) for k in rank0)
    for r in range(world):
        grads = torch.load(tmp_path / f"grads-{r}.pt")
        assert grads[-1] is None  # the frozen bias
        assert all(torch.allclose(g, torch.full_like(g, 1.5)) for g in grads[:-1])  # mean of 1 and 2
