"""The Ray Train adapter: runs a plain-PyTorch per-worker loop on a TorchTrainer and returns the checkpoint
selected on validation. The only module of ``trainables`` that imports Ray Train.

A loop is a function ``loop(*args, rank, world, device, report)`` that trains on its share of the data and
calls ``report(metrics, state)`` once per epoch, with ``state`` only when validation improved (the state dict
to keep); the same function runs alone in one process when Ray is not wanted.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from trainables.lakehelm import Split
from trainables.moe import Fit, MoEConfig, PreparedData, train_moe

logger = logging.getLogger(__name__)

STATE_FILE = "model.pt"
# Ray Train's controller consumes a worker's report only when it polls, every 2 s by default, and a worker's next
# report waits for that: each epoch would last at least one poll. Polled faster unless the user set it.
POLL_ENV, POLL_INTERVAL_S = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2"


def _worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    torch.set_num_threads(max(1, int(config["threads"])))
    if rank == 0:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("ray").setLevel(logging.WARNING)

    def report(metrics: dict[str, float], state: dict[str, Any] | None) -> None:
        if state is None:
            ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as tmp:
            torch.save(state, Path(tmp) / STATE_FILE)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))

    config["loop"](*config["args"], rank=rank, world=world, device=str(device), report=report)


@contextmanager
def _env_default(name: str, value: str) -> Iterator[None]:
    """``name`` is ``value`` in this process's environment for the block, unless the user set it."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def run_on_ray_train(
    loop: Callable[..., Any], args: tuple[Any, ...], workers: int, use_gpu: bool, storage: Path, name: str
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Runs ``loop(*args, ...)`` on ``workers`` Ray Train workers (gloo on CPU, NCCL on GPU); returns the last
    reported state (the one validation selected) and the per-epoch metrics."""
    import ray
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    if not ray.is_initialized():
        # Joins the cluster that `ray start` or `ray up` runs on this machine, else starts a local Ray.
        ray.init(include_dashboard=False, configure_logging=False)
    resources = ray.cluster_resources()
    if use_gpu and resources.get("GPU", 0) < workers:
        raise RuntimeError(
            f"--gpu asks for {workers} GPU worker(s) but the Ray cluster has {resources.get('GPU', 0):g} GPUs; "
            "drop --gpu or lower --workers"
        )
    threads = max(1, int(resources.get("CPU", 1) // max(1, workers)))
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"loop": loop, "args": args, "threads": threads},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": 1}),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(
            name=name,
            storage_path=str(Path(storage).resolve()),
            checkpoint_config=CheckpointConfig(num_to_keep=1),
        ),
    )
    # fit() hands the driver's value to the controller and its workers; a timed-out poll is retried, not fatal.
    with _env_default(POLL_ENV, POLL_INTERVAL_S):
        result = trainer.fit()
    if result.error is not None:
        raise result.error
    if result.checkpoint is None:
        raise RuntimeError("Ray Train finished without a checkpoint; no epoch was reported")
    # Checkpoints are reported only when validation improves, so the latest one is the selected one.
    with result.checkpoint.as_directory() as d:
        state = torch.load(Path(d) / STATE_FILE, weights_only=False)
    frame = getattr(result, "metrics_dataframe", None)
    history = frame.to_dict("records") if frame is not None else []
    return state, history


def fit_with_ray_train(workers: int, use_gpu: bool, storage: Path, name: str) -> Fit:
    """A :data:`~trainables.moe.Fit` that trains the MoE on ``workers`` Ray Train workers."""

    def fit(
        data: PreparedData, split: Split, cfg: MoEConfig
    ) -> tuple[dict[str, Any], list[dict[str, float]]]:
        return run_on_ray_train(train_moe, (data, split, cfg), workers, use_gpu, storage, name)

    return fit
