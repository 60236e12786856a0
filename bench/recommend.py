"""Recommender benchmark: on workloads in no training set, real PostgreSQL or MariaDB, every method's configuration
judged by confirmation (re-measured alone on one slot, interleaved with the default, in rounds).

Held-out workloads: the standard TPC-H 22 queries, E2ETune's ``tpch_2??.wg`` query sets (never collected into the
corpus, excluded from the labels) and, with ``--tpcds``, the standard TPC-DS 99 queries (a schema no training
workload uses). Methods, per workload:

- ``rec1``: the recommender's 1-step recommendation (inputs: one run under the default), ranked by the cost model;
- ``rec3``: the multi-step recommendation (each recommendation measured once and fed back; 3 steps);
- ``nn``: OtterTune-style workload mapping: the best measured configuration of the most similar corpus workload
  (standardised workload vectors, same domain);
- ``surrogate``: the best configuration a batched search finds on the cost model alone;
- ``rules``: PGTune's (or the MariaDB rules') configuration for the slot.

Each workload is one search with ``--optimizer configs`` over those configurations and a confirmation stage that
re-measures all of them with the default. ``--speedup N`` adds the warm-start experiment on N E2ETune sets: HEBO
cold vs HEBO warm-started with the recommender's top 3, the trials each needs to reach cold HEBO's best
(in-search numbers). Every finished workload and search is kept under ``--work``: a rerun resumes.

    .venv/bin/python bench/recommend.py --workloads 8 --tpcds        # results: bench/results/recommend.json
    .venv/bin/python bench/recommend.py --engine mariadb --workloads 4 --out bench/results/recommend-mariadb.json
    .venv/bin/python bench/recommend.py --workloads 0 --speedup 5 --out bench/results/recommend-speedup.json
    .venv/bin/python bench/recommend.py --workloads 2 --rounds 2 --out /tmp/r.json    # a quick look
"""

from __future__ import annotations

import argparse
import glob
import json
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from raytune.backends import config_key  # noqa: E402
from raytune.confirmation import analyse, search_rows  # noqa: E402
from raytune.corpus import Corpus  # noqa: E402
from raytune.hardware import detect_hardware  # noqa: E402
from raytune.home import ensure_home  # noqa: E402
from raytune.optimizers import rule_config  # noqa: E402
from raytune.records import Objective  # noqa: E402
from raytune.slots import SlotShape, resolve_shape  # noqa: E402
from raytune.trial import MeasureSettings, TrialRunner  # noqa: E402
from raytune.tune import SearchSpec, WorkloadSpec, run_search  # noqa: E402
from raytune.workloads import make_workload  # noqa: E402
from trainables.dann import CostModel, describe_workload, workload_inputs  # noqa: E402
from trainables.dann._features import workload_vector  # noqa: E402
from trainables.recommender import Recommender, measured_labels  # noqa: E402
from trainables.recommender._labels import batched_best  # noqa: E402

E2ETUNE = ROOT.parent / "shared" / "data" / "e2etune" / "olap_workloads"
SETTINGS = MeasureSettings(repeats=1, timeout_s=30, plans=False)
GIB = 1024**3
METHODS = ("rec1", "rec3", "nn", "surrogate", "rules")


def held_out(n: int, tpcds: bool = False) -> list[tuple[str, str, Path | None]]:
    """(name, benchmark, query file) of the held-out workloads: the standard TPC-H queries, the first ``n - 1``
    E2ETune ``tpch_2??`` sets (200-231), and with ``tpcds`` the standard TPC-DS queries (a schema no training
    workload uses)."""
    files = sorted(Path(f) for f in glob.glob(str(E2ETUNE / "tpch_2??.wg")))
    chosen: list[tuple[str, str, Path | None]] = [("tpch-22", "tpch", None)] if n > 0 else []
    chosen += [(f.stem, "tpch", f) for f in files[: max(0, n - 1)]]
    return chosen + ([("tpcds-99", "tpcds", None)] if tpcds else [])


def cached(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()``, kept as JSON at ``path``: an interrupted benchmark resumes where it stopped."""
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, default=float) + "\n")
    return value


def nearest_config(corpus: Corpus, w: Any, domain: str) -> tuple[str, dict[str, Any]]:
    """The best measured configuration of the corpus workload nearest to ``w`` in ``domain`` (standardised
    Euclidean distance between the cost model's workload vectors)."""
    bests = {lb.workload.workload_id: lb.config for lb in measured_labels(corpus) if lb.kind == "measured"
             and f"{lb.workload.engine}/{lb.workload.cpus}cpu-{lb.workload.memory_bytes / GIB:.1f}g" == domain}  # fmt: skip
    inputs = {k[0]: v for k, v in workload_inputs(corpus).items() if k[1] == domain and k[0] in bests}
    keys = sorted(inputs)
    if not keys:
        raise SystemExit(
            f"error: the corpus has no workload in domain {domain}; run the benchmark on a machine of a corpus shape"
        )
    vectors = np.stack([workload_vector(inputs[k]) for k in keys])
    sd = np.maximum(vectors.std(axis=0), 1e-6)
    nearest = keys[int(np.argmin((((vectors - workload_vector(w)) / sd) ** 2).sum(axis=1)))]
    return nearest, bests[nearest]


def multi_step(
    model: Recommender, cost: CostModel, w: Any, workload: Any, shape: SlotShape, steps: int
) -> dict[str, Any]:
    """The best of ``steps`` measured recommendations, each fed back as the current configuration."""

    def measure(config: dict[str, Any]) -> tuple[float, dict[str, float]]:
        with TrialRunner(w.engine, workload, settings=SETTINGS, hardware=shape.hardware()) as runner:
            record = runner.run(config)
        if record.status.name != "SUCCEEDED" or not record.summary.get("mean_latency_s"):
            return 10.0, {}  # a failed recommendation: far worse than the default, never kept
        run_s = float(record.timings.get("run_s") or 1.0)
        return record.summary["mean_latency_s"] / w.default_latency_s, {
            k: v / run_s for k, v in record.metrics.items()
        }

    history = model.recommend_steps(w, measure, steps=steps, cost_model=cost)
    return min(history, key=lambda h: h.measured_ratio).recommendation.config


def judge(
    rows: list[dict[str, Any]], methods: dict[str, dict[str, Any]], objective: Objective
) -> dict[str, Any]:
    """Per method: confirmed ratios to the default, significance, and whether it beats the rules beyond the
    spread (every round faster than the rules' run of that round, median gain above the noise)."""
    confirmation = analyse(rows, objective)
    assert confirmation is not None
    by_key = {config_key(c.config): c for c in confirmation.configs}
    rules = by_key.get(config_key(methods["rules"]))
    out: dict[str, Any] = {}
    for name, config in methods.items():
        c = by_key.get(config_key(config))
        if c is None:
            out[name] = {"confirmed": False}
            continue
        entry: dict[str, Any] = {"ratio_to_default": c.median_to_default, "ratios": list(c.ratio_to_default),
                                 "significant": c.significant, "config": config}  # fmt: skip
        if rules is not None and name != "rules":
            pairs = [a / b for a, b in zip(c.values, rules.values, strict=False) if b]
            median = statistics.median(pairs) if pairs else None
            noise = max(0.01, (max(pairs) - min(pairs)) / 2) if pairs else None
            entry["ratio_to_rules"] = median
            entry["beats_rules"] = bool(pairs) and all(p < 1 for p in pairs) and 1 - median > noise
        out[name] = entry
    return out


def trials_to_reach(curve: list[float], target: float) -> int | None:
    """The first trial (1-based) whose best-so-far is at or below ``target``; None if none is."""
    return next((i + 1 for i, v in enumerate(curve) if v <= target), None)


def best_so_far(rows: list[dict[str, Any]]) -> list[float]:
    """The best objective after each trial of a search, in start order (the default is trial 1)."""
    best, curve = float("inf"), []
    for r in sorted(search_rows(rows), key=lambda r: r["started_at"]):
        if r["status"] == "SUCCEEDED" and r["objective"] is not None:
            best = min(best, r["objective"])
        curve.append(best)
    return curve


def speedup(
    model: Recommender, cost: CostModel, wl: WorkloadSpec, w: Any, seeds: int, trials: int, work: Path
) -> dict[str, Any]:
    """Cold HEBO vs HEBO warm-started with the recommender's top 3: trials each needs to reach cold HEBO's best
    (strictly, and within 5% of it: a single run's noise). Each search is kept, so a rerun resumes."""
    warm = [r.config for r in model.recommend(w, cost_model=cost, candidates=8, top=3)]
    result: dict[str, Any] = {"seeds": []}
    curves_by_seed = []
    for seed in range(seeds):
        curves = {}
        for mode in ("cold", "warm"):
            where = (
                work / f"speedup-{w.engine}-{wl.queries_file and Path(wl.queries_file).stem}-{mode}-{seed}"
            )

            def search(where: Path = where, mode: str = mode, seed: int = seed) -> dict[str, Any]:
                shutil.rmtree(where, ignore_errors=True)
                spec = SearchSpec(results_dir=where, engine=w.engine, workload=wl, optimizer="hebo", trials=trials,
                                  seed=seed, instances=2, settings=SETTINGS, confirm=0,
                                  warm_start=warm if mode == "warm" else [])  # fmt: skip
                return {"curve": best_so_far(run_search(spec).rows())}

            curves[mode] = cached(where / "curve.json", search)["curve"]
        curves_by_seed.append(curves)
        target = curves["cold"][-1]
        result["seeds"].append({
            "cold_best": target, "warm_best": curves["warm"][-1],
            "trials_to_cold_best": {m: trials_to_reach(c, target) for m, c in curves.items()},
            "trials_to_within_5pct": {m: trials_to_reach(c, 1.05 * target) for m, c in curves.items()},
        })  # fmt: skip
    for key in ("trials_to_cold_best", "trials_to_within_5pct"):
        # A warm run that never gets there counts as needing one trial more than it had.
        ratios = [s[key]["cold"] / (s[key]["warm"] or trials + 1) for s in result["seeds"]]
        result[f"speedup_{key[10:]}"] = {"mean": statistics.fmean(ratios), "per_seed": ratios}
    result["curves"] = curves_by_seed
    return result


def summarise_speedup(runs: list[dict[str, Any]], trials: int) -> dict[str, Any]:
    """Across workloads and seeds: the speed-up ratios (arithmetic and geometric mean, median, how many above 1)
    and, per mode, the geometric mean of each search's best after k trials relative to its own default run."""
    out: dict[str, Any] = {}
    for key in ("cold_best", "within_5pct"):
        ratios = [x for r in runs for x in r[f"speedup_{key}"]["per_seed"]]
        out[key] = {"mean": statistics.fmean(ratios), "geometric_mean": statistics.geometric_mean(ratios),
                    "median": statistics.median(ratios), "above_1": sum(x > 1 for x in ratios),
                    "searches": len(ratios)}  # fmt: skip
    ks = [k for k in (2, 4, 5, 10, 20, 50) if k <= trials]
    out["best_after_k_over_default"] = {
        mode: {k: statistics.geometric_mean([c[mode][k - 1] / c[mode][0] for r in runs for c in r["curves"]]) for k in ks}
        for mode in ("cold", "warm")
    }  # fmt: skip
    return out


def evaluate(
    name: str,
    wl: WorkloadSpec,
    workload: Any,
    w: Any,
    tools: dict[str, Any],
    args: argparse.Namespace,
    seed: int,
) -> dict[str, Any]:
    """Every method's configuration for one held-out workload, confirmed against the default in one search."""
    model, cost, shape = tools["model"], tools["cost"], tools["shape"]
    t1 = time.perf_counter()
    rec1 = model.recommend(w, cost_model=cost, candidates=8, top=1)[0]
    rec_ms = 1000 * (time.perf_counter() - t1)
    nn_name, nn = nearest_config(tools["corpus"], w, tools["domain"])
    methods = {
        "rec1": rec1.config,
        "rec3": multi_step(model, cost, w, workload, shape, args.steps) if args.steps > 1 else rec1.config,
        "nn": nn,
        "surrogate": batched_best(cost.predict, w, seed=seed)[0],
        "rules": tools["rules"],
    }
    distinct = list({config_key(c): c for c in methods.values()}.values())
    where = args.work / f"{w.engine}-{name}"
    shutil.rmtree(where, ignore_errors=True)
    spec = SearchSpec(results_dir=where, engine=w.engine, workload=wl, optimizer="configs", configs=distinct,
                      trials=len(distinct), instances=2, settings=SETTINGS, confirm=len(distinct),
                      confirm_rounds=args.rounds)  # fmt: skip
    verdict = judge(run_search(spec).rows(), methods, tools["objective"])
    return {"workload": name, "nearest_corpus_workload": nn_name, "recommend_ms": rec_ms,
            "predicted_gain_pct": rec1.predicted_gain_pct, "methods": verdict}  # fmt: skip


def summarise(per_workload: list[dict[str, Any]], methods: tuple[str, ...] = METHODS) -> dict[str, Any]:
    """Per method: mean confirmed ratio, and on how many workloads it beats the default and the rules."""
    summary = {}
    for m in methods:
        vals = [w["methods"][m] for w in per_workload if w["methods"].get(m, {}).get("ratio_to_default")]
        summary[m] = {
            "mean_ratio_to_default": statistics.fmean(v["ratio_to_default"] for v in vals) if vals else None,
            "beats_default_significantly": sum(bool(v["significant"]) for v in vals),
            "beats_rules_beyond_spread": sum(bool(v.get("beats_rules")) for v in vals),
            "workloads": len(vals),
        }
    return summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", default="postgres", choices=("postgres", "mariadb"))
    p.add_argument("--model", type=Path, help="recommender directory (default: shipped)")
    p.add_argument("--cost-model", type=Path, help="cost model directory (default: shipped)")
    p.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus")
    p.add_argument(
        "--workloads", type=int, default=8, help="held-out TPC-H workloads (TPC-H 22 + E2ETune sets)"
    )
    p.add_argument("--tpcds", action="store_true", help="also the standard TPC-DS queries (an unseen schema)")
    p.add_argument("--sf", type=float, default=0.1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--speedup", type=int, default=0, help="workloads for the warm-start experiment (0: skip)")
    p.add_argument("--speedup-seeds", type=int, default=3)
    p.add_argument("--speedup-trials", type=int, default=50)
    p.add_argument("--work", type=Path, default=ROOT / "results" / "bench-recommend",
                   help="searches and finished parts (a rerun with the same folder resumes; --fresh clears it)")  # fmt: skip
    p.add_argument("--fresh", action="store_true", help="forget finished parts in --work")
    p.add_argument("--out", type=Path, default=HERE / "results" / "recommend.json")
    args = p.parse_args()
    if args.fresh:
        shutil.rmtree(args.work, ignore_errors=True)
    model, cost = Recommender.load(args.model), CostModel.load(args.cost_model)
    shape = resolve_shape(detect_hardware(), 2)  # the slots of the search's 2 instances
    tools = {
        "model": model, "cost": cost, "shape": shape, "corpus": Corpus(args.corpus),
        "domain": f"{args.engine}/{shape.cpus}cpu-{shape.memory_bytes / GIB:.1f}g",
        "objective": Objective.for_workload(True, "", timeout_s=SETTINGS.timeout_s),
        "rules": rule_config(args.engine, shape.hardware(), "olap"),
    }  # fmt: skip
    t0 = time.perf_counter()

    def prepared(benchmark: str, file: Path | None) -> tuple[WorkloadSpec, Any, Any]:
        wl = WorkloadSpec(benchmark, args.sf, str(file) if file else None)
        workload = make_workload(benchmark, sf=args.sf, cache_dir=ensure_home() / "data", queries_file=file)
        return wl, workload, describe_workload(args.engine, workload, shape, explain=True)

    per_workload: list[dict[str, Any]] = []
    for i, (name, benchmark, file) in enumerate(held_out(args.workloads, args.tpcds)):

        def evaluated(
            name: str = name, benchmark: str = benchmark, file: Path | None = file, i: int = i
        ) -> dict[str, Any]:
            return evaluate(name, *prepared(benchmark, file), tools, args, i)

        part = cached(args.work / f"{args.engine}-{name}.json", evaluated)
        per_workload.append(part)
        line = "  ".join(f"{m} {v.get('ratio_to_default', float('nan')):.3f}{'*' if v.get('significant') else ''}"
                         for m, v in part["methods"].items())  # fmt: skip
        print(f"{name}: {line}", file=sys.stderr)
    rec_vs_nn = [w["methods"]["rec1"]["ratio_to_default"] - w["methods"]["nn"]["ratio_to_default"]
                 for w in per_workload if w["methods"]["rec1"].get("ratio_to_default") and w["methods"]["nn"].get("ratio_to_default")]  # fmt: skip
    result: dict[str, Any] = {
        "command": " ".join(["python", "bench/recommend.py", *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"platform": platform.platform()},
        "engine": args.engine, "slot": shape.describe(), "sf": args.sf, "rounds": args.rounds, "steps": args.steps,
        "model": model.version, "cost_model": cost.version,
        "training": json.loads((model.path / "metrics.json").read_text()) if model.path else None,
        "summary": summarise(per_workload) if per_workload else None,
        "rec1_minus_nn_mean": statistics.fmean(rec_vs_nn) if rec_vs_nn else None,
        "workloads": per_workload,
    }  # fmt: skip
    if args.speedup:
        runs = []
        for name, benchmark, file in held_out(args.speedup + 1)[1:]:
            wl, _, w = prepared(benchmark, file)
            runs.append({"workload": name, **speedup(model, cost, wl, w, args.speedup_seeds, args.speedup_trials, args.work)})  # fmt: skip
            print(f"{name}: speed-up {runs[-1]['speedup_cold_best']['mean']:.2f}x", file=sys.stderr)
        result["speedup"] = {
            "trials": args.speedup_trials, "seeds": args.speedup_seeds, "workloads": runs,
            "mean_speedup_cold_best": statistics.fmean(r["speedup_cold_best"]["mean"] for r in runs),
            "mean_speedup_within_5pct": statistics.fmean(r["speedup_within_5pct"]["mean"] for r in runs),
            "summary": summarise_speedup(runs, args.speedup_trials),
        }  # fmt: skip
    result["wall_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"-> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
