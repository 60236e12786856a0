"""``python -m trainables.train moe --data DIR --benchmark NAME --sf N --out DIR``.

Trains LakeHelm's two-gate MoE on Ray Train (``--workers`` TorchTrainer workers; ``--gpu`` for GPU workers) or,
with ``--no-ray``, in this process. Writes ``metrics.json`` (test_ratio, val_ratio, best_fixed_ratio, epochs,
train_seconds, ...), ``model.pt`` and ``choices.json`` to ``--out``. Exit 0 on success, 2 on bad input, 1 when
training fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from trainables.lakehelm import DatasetError
from trainables.moe import MoEConfig, MoEJob, fit_locally, run_job

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lakehelm"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainables.train", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="model", required=True, metavar="MODEL")
    moe = sub.add_parser("moe", help="LakeHelm's two-gate mixture of experts (engine, lake format, config)")
    moe.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="LakeHelm-layout root (latency/, plans/, stats/)"
    )
    moe.add_argument(
        "--benchmark", required=True, help="a folder under DATA/latency, e.g. tpch, tpcds, ssb, ssb-flat"
    )
    moe.add_argument("--sf", type=int, required=True, help="scale factor: a folder sf<N> under the benchmark")
    moe.add_argument("--out", type=Path, required=True, help="where metrics.json, model.pt, choices.json go")
    moe.add_argument("--epochs", type=int, default=MoEConfig.epochs)
    moe.add_argument(
        "--steps", type=int, default=MoEConfig.steps_per_subepoch, help="steps per stage sub-epoch"
    )
    moe.add_argument(
        "--seed", type=int, default=0, help="seeds the query split, the workloads and the weights"
    )
    moe.add_argument("--workers", type=int, default=2, help="Ray Train workers")
    moe.add_argument("--gpu", action="store_true", help="train on GPU (Ray: one GPU per worker)")
    moe.add_argument("--no-ray", action="store_true", help="train in this process, plain PyTorch")
    moe.add_argument("--min-latency-ms", type=float, default=1500.0, help="drop faster rows (LakeHelm: 1500)")
    moe.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.verbose:
        logging.getLogger("ray").setLevel(logging.WARNING)
    if args.epochs < 1 or args.steps < 1 or args.workers < 1:
        print("error: --epochs, --steps and --workers must be at least 1", file=sys.stderr)
        return 2
    cfg = MoEConfig(epochs=args.epochs, steps_per_subepoch=args.steps, seed=args.seed)
    job = MoEJob(args.data, args.benchmark, args.sf, args.out, cfg, args.min_latency_ms)
    if args.no_ray:
        import torch

        if args.gpu and not torch.cuda.is_available():
            print("error: --gpu given but PyTorch sees no CUDA device; drop --gpu", file=sys.stderr)
            return 2
        fit, backend = fit_locally("cuda" if args.gpu else "cpu"), "torch-" + ("cuda" if args.gpu else "cpu")
    else:
        from trainables.train._ray import fit_with_ray_train

        name = f"moe-{args.benchmark}-sf{args.sf}-seed{args.seed}"
        fit = fit_with_ray_train(args.workers, args.gpu, args.out / "ray", name)
        backend = f"ray-train x{args.workers} " + ("gpu" if args.gpu else "cpu")
    try:
        metrics = run_job(job, fit, backend=backend)
    except (DatasetError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: training failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"{metrics['benchmark']} sf{metrics['sf']}: test ratio {metrics['test_ratio']:.3f}  "
        f"val {metrics['val_ratio']:.3f}  best fixed {metrics['best_fixed_ratio']:.3f}  "
        f"best fixed combo + tuned config {metrics['best_fixed_combo_tuned_ratio']:.3f}  "
        f"({metrics['train_seconds']:.0f}s, {backend}) -> {args.out / 'metrics.json'}"
    )
    return 0
