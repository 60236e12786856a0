"""LakeHelm benchmark: the two-gate MoE trained with Ray Train on every (benchmark, scale) of a LakeHelm-layout
data root, against LakeHelm's published ratios and the fixed-choice baselines computed in the same run.

Per (benchmark, scale) and split seed it trains on 2 Ray Train CPU workers, selects the checkpoint on validation
and scores the test workloads once (50 workloads of 3-15 test queries; ratio = chosen latency / the query's best).

    .venv/bin/python bench/moe.py                       # all 12 (benchmark, scale), 3 seeds
    .venv/bin/python bench/moe.py --only tpch:1 --seeds 1
    .venv/bin/python bench/moe.py --only tpch:1 --seeds 1 --workers 0   # plain PyTorch in this process
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from trainables.lakehelm import available, canonical_benchmark  # noqa: E402
from trainables.moe import MoEConfig, MoEJob, fit_locally, run_job  # noqa: E402
from trainables.train._cli import DEFAULT_DATA  # noqa: E402
from trainables.train._ray import fit_with_ray_train  # noqa: E402

# LakeHelm README section 8 (see ../shared/data/README.md): per-query time ratio to the optimum.
PUBLISHED = {
    ("tpch", 1): 1.10, ("tpch", 10): 1.58, ("tpch", 100): 1.68,
    ("tpcds", 1): 2.43, ("tpcds", 10): 1.90, ("tpcds", 100): 1.87,
    ("ssb", 1): 1.40, ("ssb", 10): 1.42, ("ssb", 100): 1.80,
    ("ssb-flat", 1): 1.29, ("ssb-flat", 10): 1.52, ("ssb-flat", 100): 1.99,
}  # fmt: skip


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "per_seed": values,
    }


def run_pair(
    data: Path, bench: str, sf: int, seeds: list[int], cfg: MoEConfig, work: Path, workers: int
) -> dict[str, Any]:
    """Trains and scores one (benchmark, scale) per seed; ``workers`` 0 trains in this process (no Ray)."""
    runs = []
    t0 = time.perf_counter()
    for seed in seeds:
        job_cfg = replace(cfg, seed=seed)
        out = work / f"{bench}-sf{sf}" / f"seed{seed}"
        if workers:
            fit = fit_with_ray_train(workers, False, out / "ray", f"moe-{bench}-sf{sf}-seed{seed}")
            backend = f"ray-train x{workers} cpu"
        else:
            fit, backend = fit_locally("cpu"), "torch-cpu"
        m = run_job(MoEJob(data, bench, sf, out, job_cfg), fit, backend=backend)
        print(
            f"  {bench} sf{sf} seed {seed}: test {m['test_ratio']:.3f}  val {m['val_ratio']:.3f}  "
            f"best fixed {m['best_fixed_ratio']:.3f}  {m['train_seconds']:.0f}s",
            flush=True,
        )
        runs.append(m)
    return summarise(bench, sf, runs, time.perf_counter() - t0)


def summarise(bench: str, sf: int, runs: list[dict[str, Any]], wall: float | None) -> dict[str, Any]:
    key = (canonical_benchmark(bench), sf)
    result = {
        "benchmark": bench,
        "sf": sf,
        "test_ratio": _stats([m["test_ratio"] for m in runs]),
        "val_ratio": _stats([m["val_ratio"] for m in runs]),
        "best_fixed_ratio": _stats([m["best_fixed_ratio"] for m in runs]),
        "best_fixed_combo_tuned_ratio": _stats([m["best_fixed_combo_tuned_ratio"] for m in runs]),
        "selection_mode": [m["selection_mode"] for m in runs],
        "train_seconds": _stats([m["train_seconds"] for m in runs]),
        "wall_seconds_all_seeds": wall,
        "lakehelm_published_ratio": PUBLISHED.get(key),
        "queries": runs[0]["queries"],
        "dataset": runs[0]["dataset"],
    }
    ours = result["test_ratio"]["mean"]
    result["beats_lakehelm"] = (
        None if result["lakehelm_published_ratio"] is None else ours < result["lakehelm_published_ratio"]
    )
    result["not_worse_than_best_fixed"] = ours <= result["best_fixed_ratio"]["mean"]
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--only", action="append", help="BENCH:SF, repeatable; default: every pair under --data")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=MoEConfig.epochs)
    p.add_argument("--steps", type=int, default=MoEConfig.steps_per_subepoch)
    p.add_argument("--workers", type=int, default=2, help="Ray Train CPU workers; 0: train in this process")
    p.add_argument("--out", type=Path, default=HERE / "results" / "moe.json")
    p.add_argument("--work", type=Path, default=ROOT / "results" / "bench-moe")
    p.add_argument(
        "--collect",
        action="store_true",
        help="train nothing: summarise the per-seed metrics.json already under --work (e.g. of an interrupted run)",
    )
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    pairs = [(b, sf) for b, sfs in available(args.data).items() for sf in sfs]
    if args.only:
        wanted = {(canonical_benchmark(o.split(":")[0]), int(o.split(":")[1])) for o in args.only}
        pairs = [(b, sf) for b, sf in pairs if (canonical_benchmark(b), sf) in wanted]
    if not pairs:
        print(f"error: no (benchmark, scale) to run under {args.data}", file=sys.stderr)
        return 2
    if args.workers < 0:
        print("error: --workers must be 0 (in this process) or more", file=sys.stderr)
        return 2
    cfg = MoEConfig(epochs=args.epochs, steps_per_subepoch=args.steps)
    t0 = time.perf_counter()
    results = []
    if args.collect:
        for bench, sf in pairs:
            files = sorted((args.work / f"{bench}-sf{sf}").glob("seed*/metrics.json"))
            if files:
                results.append(summarise(bench, sf, [json.loads(f.read_text()) for f in files], None))
    else:
        if args.workers:
            import ray

            ray.init(address="local", include_dashboard=False, configure_logging=False, log_to_driver=False)
        for bench, sf in pairs:
            results.append(
                run_pair(args.data, bench, sf, list(range(args.seeds)), cfg, args.work, args.workers)
            )
        if args.workers:
            ray.shutdown()
    report = {
        "command": " ".join(["python", "bench/moe.py", *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "config": cfg.to_dict(),
        "seeds": args.seeds,
        "workers": args.workers,
        "wall_seconds": time.perf_counter() - t0,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.out} in {report['wall_seconds']:.0f}s")
    print(
        f"{'benchmark':<10}{'sf':>4}  {'ours':>12}  {'LakeHelm':>8}  {'best fixed':>10}  {'combo+tuned':>11}  {'s/seed':>6}"
    )
    for r in results:
        t = r["test_ratio"]
        pub = r["lakehelm_published_ratio"]
        print(
            f"{r['benchmark']:<10}{r['sf']:>4}  {t['mean']:>6.3f}±{t['sd']:<5.3f}  {pub if pub else '-':>8}  "
            f"{r['best_fixed_ratio']['mean']:>10.3f}  {r['best_fixed_combo_tuned_ratio']['mean']:>11.3f}  "
            f"{r['train_seconds']['mean']:>6.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
