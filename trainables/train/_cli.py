"""``python -m trainables.train moe|dann|labels|recommender|influence ...``: train a learned tuner (on Ray Train
where it is a neural network).

``labels --corpus DIR --out DIR [--workloads GLOB]``: the recommender's training labels: measured bests and
multi-step pairs from the corpus, and for each extra workload file the best configuration an optimizer finds
against the cost model (``--cost-model``, default the shipped one), per domain of the corpus.

``recommender --labels DIR --out DIR``: the generative recommender over a label set; writes ``model.pt`` and
``metrics.json`` (validation bucket accuracy, chance, epochs, train_seconds).

``dann --corpus DIR --out DIR``: the domain-adversarial cost model over a corpus (``raytune.corpus``); writes
``model.pt`` and ``metrics.json`` (validation accuracy, epochs, train_seconds, what it was trained on).

``influence --records DIR --out DIR``: Sullivan's influence diagram for Berkeley DB from the trial records of
dbperf runs (search results directories, repeatable); writes ``diagram.json`` and ``metrics.json`` (MDL bins,
value-node weights). Runs in this process: counting, no gradient descent.

``moe --data DIR --benchmark NAME --sf N --out DIR``: LakeHelm's two-gate MoE on Ray Train (``--workers`` TorchTrainer workers; ``--gpu`` for GPU workers) or,
with ``--no-ray``, in this process. Writes ``metrics.json`` (test_ratio, val_ratio, best_fixed_ratio, epochs,
train_seconds, ...), ``model.pt`` and ``choices.json`` to ``--out``. Exit 0 on success, 2 on bad input, 1 when
training fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from trainables.dann import DannConfig
from trainables.influence import VALUE_SCALES, VARIANTS, WEIGHTS
from trainables.lakehelm import DatasetError
from trainables.moe import MoEConfig, MoEJob, fit_locally, run_job
from trainables.recommender._backbone import DEFAULT_BACKBONE
from trainables.recommender._loop import RecommenderConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lakehelm"


def _add_backend_arguments(parser: argparse.ArgumentParser, storage_default: str) -> None:
    """Where a model trains: Ray Train workers (CPU or GPU) or this process; where Ray keeps its run."""
    parser.add_argument("--workers", type=int, default=2, help="Ray Train workers")
    parser.add_argument("--gpu", action="store_true", help="train on GPU (Ray: one GPU per worker)")
    parser.add_argument("--no-ray", action="store_true", help="train in this process, plain PyTorch")
    parser.add_argument("--ray-storage", type=Path, metavar="DIR",
                        help=f"where Ray Train keeps its run directory and checkpoints (default: {storage_default})")  # fmt: skip


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
    _add_backend_arguments(moe, storage_default="OUT/ray")
    moe.add_argument("--min-latency-ms", type=float, default=1500.0, help="drop faster rows (LakeHelm: 1500)")
    moe.add_argument("-v", "--verbose", action="store_true")

    dann = sub.add_parser("dann", help="the domain-adversarial cost model over a knobray corpus")
    dann.add_argument(
        "--corpus", type=Path, required=True, help="corpus directory (python -m raytune.corpus)"
    )
    dann.add_argument("--out", type=Path, required=True, help="model directory to write")
    dann.add_argument("--epochs", type=int, default=DannConfig.epochs)
    dann.add_argument("--label-fraction", type=float, default=DannConfig.label_fraction,
                      help="share of target-domain training labels the model sees (default 0.3)")  # fmt: skip
    dann.add_argument("--seed", type=int, default=0)
    _add_backend_arguments(dann, storage_default="results/ray-train")
    dann.add_argument("-v", "--verbose", action="store_true")

    labels = sub.add_parser(
        "labels", help="the recommender's training labels (corpus bests, cost-model searches)"
    )
    labels.add_argument(
        "--corpus", type=Path, required=True, help="corpus directory (python -m raytune.corpus)"
    )
    labels.add_argument("--out", type=Path, required=True, help="label directory to write")
    labels.add_argument("--workloads", action="append", default=[],
                        help="extra query files (a glob, repeatable) labelled by searching the cost model")  # fmt: skip
    labels.add_argument("--exclude", action="append", default=[], help="query files to leave out (a glob)")
    labels.add_argument("--cost-model", type=Path, help="cost model directory (default: the shipped one)")
    labels.add_argument(
        "--optimizer", default="batch", help="search against the cost model: batch (default), tpe, hebo, smac"
    )
    labels.add_argument(
        "--trials", type=int, default=1024,
        help="batch: Latin-hypercube samples per workload (1024); an optimizer: its predictions",
    )  # fmt: skip
    labels.add_argument("--seed", type=int, default=0)
    labels.add_argument("-v", "--verbose", action="store_true")

    rec = sub.add_parser("recommender", help="the generative knob recommender over a label set")
    rec.add_argument(
        "--labels", type=Path, required=True, help="label directory (python -m trainables.train labels)"
    )
    rec.add_argument("--out", type=Path, required=True, help="model directory to write")
    rec.add_argument("--backbone", default=DEFAULT_BACKBONE,
                     help=f"a local Hugging Face encoder directory (default: {DEFAULT_BACKBONE}, shipped)")  # fmt: skip
    rec.add_argument("--epochs", type=int, default=RecommenderConfig.epochs)
    rec.add_argument("--seed", type=int, default=0)
    _add_backend_arguments(rec, storage_default="results/ray-train")
    rec.add_argument("-v", "--verbose", action="store_true")
    infl = sub.add_parser(
        "influence", help="Sullivan's influence diagram for Berkeley DB from dbperf records"
    )
    infl.add_argument("--records", type=Path, action="append", required=True,
                      help="a search results directory with Berkeley DB dbperf trials (repeatable)")  # fmt: skip
    infl.add_argument("--out", type=Path, required=True, help="model directory to write")
    infl.add_argument("--value-bins", type=int, default=10, help="equal-height bins of the value nodes (10)")
    infl.add_argument("--value-nodes", default="misses", choices=("misses", "faults"),
                      help="the I/O loss: memory-pool misses (default; the database fits the OS cache) or faults")  # fmt: skip
    infl.add_argument("--weights", default=WEIGHTS[0], choices=WEIGHTS,
                      help="value weights: pooled over all runs (the thesis) or within a kind of workload")  # fmt: skip
    infl.add_argument("--value-scale", default=VALUE_SCALES[0], choices=VALUE_SCALES,
                      help="what a value node holds: ln(1 + loss per transaction) (default) or the raw loss (the thesis)")  # fmt: skip
    infl.add_argument("--structure", default=VARIANTS[0], choices=VARIANTS,
                      help="the thesis's diagram; shared-policy: one additive deadlock-policy effect on the waits; "
                           "shared-knobs: one per (DB_RMW, policy); shared-pages: one per (page size, policy), page "
                           "size a parent of the waits; conflicts: contention as one product node, knobs as "
                           "shared-knobs; -deadlocks: and a deadlocks-per-transaction value node")  # fmt: skip
    infl.add_argument("-v", "--verbose", action="store_true")
    return p


def _influence(args: argparse.Namespace) -> int:
    from raytune.errors import KnobrayError
    from trainables.influence import train_influence

    if args.value_bins < 2:
        print("error: --value-bins must be at least 2", file=sys.stderr)
        return 2
    try:
        metrics = train_influence(
            args.records,
            args.out,
            value_bins=args.value_bins,
            value_nodes=args.value_nodes,
            weights=args.weights,
            value_scale=args.value_scale,
            variant=args.structure,
        )
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log = metrics["value_scale"] == "log"
    weights = ", ".join(
        f"{f'ln(1 + {k})' if log and k != 'intercept' else k} {v:+.4f}" for k, v in metrics["weights"].items()
    )
    print(f"influence diagram: {metrics['examples']} runs; ln(throughput) = {weights}")
    print(f"bins: {metrics['bins']}")
    print(f"-> {args.out / 'diagram.json'} ({metrics['discretize_s']:.1f} s to discretize)")
    return 0


def _local_fit(args: argparse.Namespace, fit_locally: Any) -> tuple[Any, str] | None:
    """``--no-ray``: the in-process fit on CPU or CUDA, and its backend name; None (after one error line) when
    --gpu is asked for and PyTorch sees no CUDA device."""
    import torch

    if args.gpu and not torch.cuda.is_available():
        print("error: --gpu given but PyTorch sees no CUDA device; drop --gpu", file=sys.stderr)
        return None
    device = "cuda" if args.gpu else "cpu"
    return fit_locally(device), f"torch-{device}"


def _dann(args: argparse.Namespace) -> int:
    from raytune.errors import KnobrayError
    from trainables.dann import fit_locally, train_cost_model, train_dann

    if args.epochs < 1 or args.workers < 1 or not 0 < args.label_fraction <= 1:
        print(
            "error: --epochs and --workers must be at least 1 and --label-fraction in (0, 1]", file=sys.stderr
        )
        return 2
    cfg = DannConfig(epochs=args.epochs, label_fraction=args.label_fraction, seed=args.seed)
    picked = _pick_fit(args, fit_locally, train_dann, "dann")
    if picked is None:
        return 2
    fit, backend = picked
    try:
        metrics = train_cost_model(args.corpus, args.out, cfg, fit, backend=backend)
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: training failed: {exc}", file=sys.stderr)
        return 1
    val = metrics["validation"]["pooled"]
    print(
        f"dann: {metrics['samples']} samples, {len(metrics['domains'])} domains, best epoch {metrics['best_epoch']}; "
        f"validation spearman {val['spearman']:.3f}, MAPE {val['mape_pct']:.1f}%, within-workload spearman "
        f"{val['within_workload_spearman']:.3f} ({metrics['train_seconds']:.0f}s, {backend}) -> "
        f"{args.out / 'metrics.json'}"
    )
    return 0


def _pick_fit(args: argparse.Namespace, fit_locally: Any, loop: Any, kind: str) -> tuple[Any, str] | None:
    """In-process (``--no-ray``) or Ray Train fit of ``loop`` and its backend name; None after one error line."""
    return _local_fit(args, fit_locally) if args.no_ray else _ray_fit(loop, args, kind)


def _ray_fit(loop: Any, args: argparse.Namespace, kind: str) -> tuple[Any, str]:
    """A fit that runs ``loop`` on ``--workers`` Ray Train workers, and its backend name."""
    from trainables.train._ray import run_on_ray_train

    # Ray Train's run directory stays out of the model directory (which may be shipped in the package).
    storage = args.ray_storage or Path("results") / "ray-train"
    name = f"{kind}-seed{args.seed}-{int(time.time())}"

    def fit(*fit_args):  # type: ignore[no-untyped-def]
        return run_on_ray_train(loop, fit_args, args.workers, args.gpu, storage, name)

    return fit, _ray_backend_name(args)


def _ray_backend_name(args: argparse.Namespace) -> str:
    """How metrics.json names a Ray Train fit: ``ray-train x2 cpu``."""
    return f"ray-train x{args.workers} " + ("gpu" if args.gpu else "cpu")


def _labels(args: argparse.Namespace) -> int:
    import glob

    from raytune.corpus import Corpus
    from raytune.errors import KnobrayError
    from trainables.dann import CostModel
    from trainables.recommender import make_labels, sql_workload

    if args.trials < 1:
        print("error: --trials must be at least 1", file=sys.stderr)
        return 2
    excluded = {Path(f).resolve() for pattern in args.exclude for f in glob.glob(pattern)}
    files = sorted({Path(f) for pattern in args.workloads for f in glob.glob(pattern)}, key=str)
    files = [f for f in files if f.resolve() not in excluded]
    if args.workloads and not files:
        print(f"error: no query file matches {', '.join(args.workloads)}; check the glob", file=sys.stderr)
        return 2
    try:
        corpus = Corpus(args.corpus)
        corpus.check_version()
        measured = {m["workload_id"].split(":")[-1] for m in corpus.measurements()}
        shapes = {(m["engine"], m["slot_cpus"], m["slot_memory_bytes"]) for m in corpus.measurements()}
        extra = [
            sql_workload(f, engine, cpus, memory)
            for f in files if f.stem not in measured
            for engine, cpus, memory in sorted(shapes)
        ]  # fmt: skip
        model = CostModel.load(args.cost_model) if extra else None
        bar = tqdm(total=len(extra), desc="labels", unit="workload", disable=not extra)
        summary = make_labels(
            args.corpus, args.out, extra=extra, cost_model=model, optimizer=args.optimizer,
            trials=args.trials, seed=args.seed, on_label=lambda _l: bar.update(1),
        )  # fmt: skip
        bar.close()
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = "; ".join(
        f"{d}: " + ", ".join(f"{n} {k}" for k, n in c.items()) for d, c in summary["per_domain"].items()
    )
    print(f"labels: {summary['labels']} ({counts}) -> {args.out / 'labels.jsonl'}")
    return 0


def _recommender(args: argparse.Namespace) -> int:
    from raytune.errors import KnobrayError
    from trainables.recommender import fit_locally as fit_recommender_locally
    from trainables.recommender import train_recommender, train_recommender_model

    if args.epochs < 1 or args.workers < 1:
        print("error: --epochs and --workers must be at least 1", file=sys.stderr)
        return 2
    cfg = RecommenderConfig(epochs=args.epochs, seed=args.seed)
    picked = _pick_fit(args, fit_recommender_locally, train_recommender, "recommender")
    if picked is None:
        return 2
    fit, backend = picked
    try:
        metrics = train_recommender_model(
            args.labels, args.out, cfg, fit, backend=backend, backbone=args.backbone
        )
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: training failed: {exc}", file=sys.stderr)
        return 1
    val = metrics["validation"]
    print(
        f"recommender: {metrics['labels']} labels ({metrics['samples']} samples, {metrics['workloads']} workloads), "
        f"best epoch {metrics['best_epoch']}; validation bucket accuracy {val['accuracy']:.3f} "
        f"(within one bucket {val['within_one']:.3f}; chance {metrics['chance_accuracy']:.3f}) "
        f"({metrics['train_seconds']:.0f}s, {backend}) -> {args.out / 'metrics.json'}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.verbose:
        logging.getLogger("ray").setLevel(logging.WARNING)
    if args.model == "dann":
        return _dann(args)
    if args.model == "labels":
        return _labels(args)
    if args.model == "recommender":
        return _recommender(args)
    if args.model == "influence":
        return _influence(args)
    if args.epochs < 1 or args.steps < 1 or args.workers < 1:
        print("error: --epochs, --steps and --workers must be at least 1", file=sys.stderr)
        return 2
    cfg = MoEConfig(epochs=args.epochs, steps_per_subepoch=args.steps, seed=args.seed)
    job = MoEJob(args.data, args.benchmark, args.sf, args.out, cfg, args.min_latency_ms)
    if args.no_ray:
        local = _local_fit(args, fit_locally)
        if local is None:
            return 2
        fit, backend = local
    else:
        from trainables.train._ray import fit_with_ray_train

        name = f"moe-{args.benchmark}-sf{args.sf}-seed{args.seed}"
        fit = fit_with_ray_train(args.workers, args.gpu, args.ray_storage or args.out / "ray", name)
        backend = _ray_backend_name(args)
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
