"""Tuning benchmark: knobray's optimizers against the default, rule-based and random configurations, side by side.

Every method runs through the same search machinery (``raytune.tune.run_search``) with the same trial budget and
seeds on the same machine in one run. Per scenario it records, per method (mean and spread over seeds): best
objective, improvement over the default and over the rule config, trials needed to come within 5% of the best
result any method found, wall time and trial overhead; then re-measures each method's best config and the rule
config against the default alternately on one instance (so noise is not taken for improvement), and compares 1
vs 2 instances.

    .venv/bin/python bench/tuning.py --scenario pg-tpch            # full: about an hour on 2 cores
    .venv/bin/python bench/tuning.py --scenario pg-tpch --quick    # smoke test: tiny scale, few trials
    .venv/bin/python bench/tuning.py --scenario pg-tpch --remeasure-only  # redo the re-measurement (and
        # scaling) of the best configs recorded in bench/results/tuning-pg-tpch.json, without searching again
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray

from raytune.hardware import detect_hardware
from raytune.optimizers import rule_config
from raytune.trial import MeasureSettings
from raytune.tune import SearchSpec, WorkloadSpec, run_search

HERE = Path(__file__).resolve().parent
SCENARIOS: dict[str, dict[str, Any]] = {
    "pg-tpch": {
        "engine": "postgres",
        "workload": "tpch",
        "sf": 0.1,
        "kind": "olap",
        "settings": MeasureSettings(repeats=1, timeout_s=30, plans=False),
    },
    "pg-oltp": {
        "engine": "postgres",
        "workload": "pgbench",
        "sf": 10,
        "kind": "oltp",
        "settings": MeasureSettings(duration_s=15, warmup_s=5, clients=4, plans=False),
    },
    "maria-tpch": {
        "engine": "mariadb",
        "workload": "tpch",
        "sf": 0.1,
        "kind": "olap",
        "settings": MeasureSettings(repeats=1, timeout_s=30, plans=False),
    },
    "maria-oltp": {
        "engine": "mariadb",
        "workload": "sysbench-rw",
        "sf": 1,
        "kind": "oltp",
        "settings": MeasureSettings(duration_s=15, warmup_s=5, clients=4, plans=False),
    },
}
OPTIMIZERS = ["random", "hebo", "smac", "tpe"]


def _fresh_spec(scn: dict[str, Any], results: Path, **kw: Any) -> SearchSpec:
    """A search spec over an emptied ``results`` directory.

    A search appends to the trial store it finds there, so a benchmark run over a previous run's (or a --quick
    run's) directory would count the old trials as its own and break the default/best pairing of the
    re-measurement.
    """
    shutil.rmtree(results, ignore_errors=True)
    kw.setdefault("confirm", 0)  # the benchmark re-measures winners itself (below)
    return SearchSpec(
        results_dir=results,
        engine=scn["engine"],
        workload=WorkloadSpec(scn["workload"], scn["sf"]),
        workload_kind=scn["kind"],
        settings=scn["settings"],
        **kw,
    )


def _better(direction: str, a: float, b: float) -> bool:
    return a < b if direction == "min" else a > b


def _curve(rows: list[dict[str, Any]], direction: str) -> list[float | None]:
    best: float | None = None
    out: list[float | None] = []
    for r in rows:
        v = r["objective"] if r["status"] == "SUCCEEDED" else None
        if v is not None and (best is None or _better(direction, v, best)):
            best = v
        out.append(best)
    return out


def _stats(values: list[float | None], per: str = "per_seed") -> dict[str, Any]:
    """Mean and sample SD of ``values`` (None skipped), which are kept under ``per`` (what one value is of)."""
    vals = [v for v in values if v is not None]
    return {
        "mean": statistics.fmean(vals) if vals else None,
        "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0 if vals else None,
        per: values,
    }


def _pct(direction: str, best: float | None, base: float | None) -> float | None:
    if best is None or not base:
        return None
    return 100 * ((base - best) / base if direction == "min" else (best - base) / base)


def run_scenario(
    name: str, trials: int, seeds: list[int], methods: list[str], out: Path, remeasure: int, scaling: bool
) -> dict[str, Any]:
    scn = dict(SCENARIOS[name])
    direction = "min" if scn["kind"] == "olap" else "max"
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for seed in seeds:
        for method in methods:
            t0 = time.perf_counter()
            rows = run_search(
                _fresh_spec(
                    scn, out / method / f"seed{seed}", optimizer=method, trials=trials, seed=seed, instances=2
                )
            ).rows()
            wall = time.perf_counter() - t0
            runs[method].append({"seed": seed, "rows": rows, "wall_s": wall})
            print(f"  {name} {method} seed {seed}: {len(rows)} trials in {wall:.0f}s", file=sys.stderr)
    all_ok = [
        r["objective"] for m in methods for run in runs[m] for r in run["rows"] if r["status"] == "SUCCEEDED"
    ]
    global_best = (min if direction == "min" else max)(all_ok)
    within = (
        (lambda v: v <= 1.05 * global_best) if direction == "min" else (lambda v: v >= 0.95 * global_best)
    )

    def baseline(run: dict[str, Any], label: str) -> float | None:
        return next((r["objective"] for r in run["rows"] if r["baseline"] == label), None)

    report: dict[str, Any] = {}
    for label in ("default", "rules"):
        values = [baseline(run, label) for m in methods for run in runs[m]]
        report[label] = {"best_objective": _stats(values, per="per_search")}  # one per method and seed
    for method in methods:
        best, vs_default, vs_rules, to_5pct, walls, overheads, curves = [], [], [], [], [], [], []
        for run in runs[method]:
            curve = _curve(run["rows"], direction)
            b = curve[-1] if curve else None
            best.append(b)
            vs_default.append(_pct(direction, b, baseline(run, "default")))
            vs_rules.append(_pct(direction, b, baseline(run, "rules")))
            to_5pct.append(next((i + 1 for i, v in enumerate(curve) if v is not None and within(v)), None))
            walls.append(run["wall_s"])
            ov = [
                (r["timings"].get("apply_s", 0) + r["timings"].get("restart_s", 0)) / r["timings"]["run_s"]
                for r in run["rows"]
                if r["timings"].get("run_s")
            ]
            overheads.append(100 * statistics.median(ov) if ov else None)
            curves.append(curve)
        report[method] = {
            "best_objective": _stats(best),
            "improvement_over_default_pct": _stats(vs_default),
            "improvement_over_rules_pct": _stats(vs_rules),
            "trials_to_within_5pct": _stats(to_5pct),
            "wall_s": _stats(walls),
            "trial_overhead_pct": _stats(overheads),
            "curves": curves,
            "best_config": _best_config(runs[method], direction),
        }
    result = {
        "scenario": name,
        **{k: v for k, v in scn.items() if k != "settings"},
        "settings": vars(scn["settings"]),
        "direction": direction,
        "trials": trials,
        "seeds": seeds,
        "global_best": global_best,
        "methods": report,
    }
    if remeasure:
        contenders = _contenders(scn, report, ["rules", *methods])
        result["remeasure"] = _remeasure(scn, out / "remeasure", contenders, remeasure, direction)
    if scaling:
        result["scaling"] = _scaling(scn, out / "scaling", trials)
    return result


def _best_config(runs: list[dict[str, Any]], direction: str) -> dict[str, Any] | None:
    ok = [r for run in runs for r in run["rows"] if r["status"] == "SUCCEEDED"]
    if not ok:
        return None
    pick = min if direction == "min" else max
    return pick(ok, key=lambda r: r["objective"])["config"]


def _contenders(scn: dict[str, Any], report: dict[str, Any], labels: list[str]) -> dict[str, dict[str, Any]]:
    """The configs to re-measure against the default: ``rules`` (the rule config the searches started from) and
    each named method's best config."""
    out: dict[str, dict[str, Any]] = {}
    for label in labels:
        if label == "rules":
            out[label] = rule_config(scn["engine"], detect_hardware(), scn["kind"])
        elif report.get(label, {}).get("best_config") is not None:
            out[label] = report[label]["best_config"]
    return out


def _remeasure(
    scn: dict[str, Any], out: Path, contenders: dict[str, dict[str, Any]], pairs: int, direction: str
) -> dict[str, Any]:
    """Each contender and the default, alternately on ONE instance, ``pairs`` times each."""
    result: dict[str, Any] = {}
    for method, best in contenders.items():
        configs = [c for _ in range(pairs) for c in ({}, best)]
        rows = run_search(
            _fresh_spec(
                scn,
                out / method,
                optimizer="configs",
                configs=configs,
                trials=len(configs),
                instances=1,
                baselines=False,
            )
        ).rows()
        # One instance, so the rows alternate default, best, default, best... in start order.
        pairs_measured = [
            (rows[i]["objective"], rows[i + 1]["objective"]) for i in range(0, len(rows) - 1, 2)
        ]
        pairs_ok = [(d, b) for d, b in pairs_measured if d is not None and b is not None]
        defaults, bests = [d for d, _ in pairs_ok], [b for _, b in pairs_ok]
        ratios = [b / d for d, b in pairs_ok if d]
        result[method] = {
            "ratio_best_to_default": _stats(ratios, per="per_pair"),
            "default": defaults,
            "best": bests,
            "improvement_pct": _pct(direction, statistics.fmean(bests), statistics.fmean(defaults))
            if bests and defaults
            else None,
        }
    return result


def _scaling(scn: dict[str, Any], out: Path, trials: int) -> dict[str, Any]:
    """Random search with 1 and with 2 instances: trials per hour, and the spread of the default measured alone
    vs. beside a concurrent trial (the noise shared cores add)."""
    result: dict[str, Any] = {}
    for n in (1, 2):
        t0 = time.perf_counter()
        run_search(
            _fresh_spec(scn, out / f"random-{n}", optimizer="random", trials=trials, instances=n, seed=0)
        )
        result[f"trials_per_hour_{n}"] = 3600 * trials / (time.perf_counter() - t0)
        rows = run_search(
            _fresh_spec(
                scn,
                out / f"default-{n}",
                optimizer="configs",
                configs=[{}] * 4,
                trials=4,
                instances=n,
                baselines=False,
            )
        ).rows()
        values = [r["objective"] for r in rows if r["objective"] is not None]
        result[f"default_cv_pct_{n}"] = (
            100 * statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else None
        )
    result["speedup_2_vs_1"] = result["trials_per_hour_2"] / result["trials_per_hour_1"]
    return result


def remeasure_recorded(
    name: str, path: Path, out: Path, labels: list[str] | None, remeasure: int, scaling: bool, command: str
) -> dict[str, Any]:
    """Re-runs the re-measurement (and scaling) of a recorded scenario over its recorded best configs.

    ``labels`` (``rules`` and method names; None: all) picks what is re-measured; the others keep their numbers.
    """
    result = json.loads(path.read_text())
    scn = dict(SCENARIOS[name])
    if labels is None:
        labels = ["rules", *(m for m in result["methods"] if m not in ("default", "rules"))]
    t0 = time.perf_counter()
    if remeasure:
        old = result.get("remeasure", {})
        fresh = _remeasure(
            scn,
            out / "remeasure",
            _contenders(scn, result["methods"], labels),
            remeasure,
            result["direction"],
        )
        replaced = {label: old[label] for label in fresh if label in old}
        if replaced:  # the numbers a re-measurement replaces stay on record
            result["remeasure_previous"] = {**result.get("remeasure_previous", {}), **replaced}
        result["remeasure"] = {**old, **fresh}
    if scaling:
        if "scaling" in result:
            result["scaling_previous"] = result["scaling"]
        result["scaling"] = _scaling(scn, out / "scaling", result["trials"])
    wall = time.perf_counter() - t0
    result.setdefault("remeasure_runs", []).append(
        {"command": command, "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "wall_s": wall}
    )
    return result


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for method, data in result["methods"].items():
        curves = data.get("curves")
        if not curves:
            continue
        n = min(len(c) for c in curves)
        arr = np.array([[np.nan if v is None else v for v in c[:n]] for c in curves], dtype=float)
        x = np.arange(1, n + 1)
        ax.plot(x, np.nanmean(arr, axis=0), label=method)
        ax.fill_between(x, np.nanmin(arr, axis=0), np.nanmax(arr, axis=0), alpha=0.15)
    for label, style in (("default", "--"), ("rules", ":")):
        mean = result["methods"][label]["best_objective"]["mean"]
        if mean is not None:
            ax.axhline(mean, linestyle=style, color="gray", label=label)
    ax.set_xlabel("trial")
    ax.set_ylabel("best so far (" + ("latency s" if result["direction"] == "min" else "tps") + ")")
    ax.set_title(f"{result['scenario']}: {result['engine']} {result['workload']} sf {result['sf']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--scenario", choices=sorted(SCENARIOS), action="append", help="repeatable; default: all four"
    )
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--methods", default=",".join(OPTIMIZERS))
    p.add_argument(
        "--remeasure", type=int, default=3, help="alternating default/best pairs per method (0: skip)"
    )
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke test: sf 0.01, 4 trials, 1 seed, random + tpe")
    p.add_argument(
        "--remeasure-only",
        nargs="?",
        const="all",
        metavar="LABELS",
        help="no search: redo the re-measurement (and scaling) of the configs in the recorded JSON; "
        "optionally only these, comma-separated (rules, random, hebo, smac, tpe)",
    )
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--work", type=Path, default=Path("results") / "bench-tuning")
    args = p.parse_args()
    scenarios = args.scenario or sorted(SCENARIOS)
    methods = args.methods.split(",")
    trials, seeds, remeasure, scaling = (
        args.trials,
        list(range(args.seeds)),
        args.remeasure,
        not args.no_scaling,
    )
    if args.quick:
        for name in scenarios:
            s = SCENARIOS[name]
            SCENARIOS[name] = {
                **s,
                "sf": 0.01 if s["kind"] == "olap" else 1,
                "settings": replace(s["settings"], duration_s=3, warmup_s=1),
            }
        trials, seeds, methods, remeasure, scaling = 4, [0], ["random", "tpe"], 1, False
    suffix = "-quick" if args.quick else ""  # quick runs get their own work directory and result files
    missing = [str(f) for n in scenarios if not (f := args.out / f"tuning-{n}{suffix}.json").is_file()]
    if args.remeasure_only and missing:
        print(
            f"error: no recorded run at {', '.join(missing)}; run the scenario first, without --remeasure-only",
            file=sys.stderr,
        )
        return 2
    unknown = set((args.remeasure_only or "all").split(",")) - {"all", "rules", *OPTIMIZERS}
    if unknown:
        print(
            f"error: cannot re-measure {', '.join(sorted(unknown))}; name rules or methods of {', '.join(OPTIMIZERS)}",
            file=sys.stderr,
        )
        return 2
    ray.init(
        num_cpus=max(2, detect_hardware().cores),
        resources={"db_slot": 2},
        include_dashboard=False,
        namespace="knobray",
        log_to_driver=False,
        configure_logging=False,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python", "bench/tuning.py", *sys.argv[1:]])
    for name in scenarios:
        path = args.out / f"tuning-{name}{suffix}.json"
        if args.remeasure_only:
            labels = None if args.remeasure_only == "all" else args.remeasure_only.split(",")  # checked above
            result = remeasure_recorded(
                name, path, args.work / f"{name}{suffix}", labels, remeasure, scaling, command
            )
            path.write_text(json.dumps(result, indent=1, default=str) + "\n")
            print(f"{name}: re-measured into {path} in {result['remeasure_runs'][-1]['wall_s']:.0f}s")
            for method, r in result.get("remeasure", {}).items():
                ratio = r["ratio_best_to_default"]
                print(f"  {method:<8} best/default {ratio['mean']:.3f} ± {ratio['sd']:.3f}")
            continue
        t0 = time.perf_counter()
        result = run_scenario(name, trials, seeds, methods, args.work / f"{name}{suffix}", remeasure, scaling)
        result["command"] = command
        result["when"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        result["machine"] = {**detect_hardware().to_dict(), "platform": platform.platform()}
        result["scenario_wall_s"] = time.perf_counter() - t0
        path.write_text(json.dumps(result, indent=1, default=str) + "\n")
        plot(result, args.out / f"tuning-{name}{suffix}.png")
        print(f"{name}: wrote {args.out / f'tuning-{name}{suffix}.json'} in {result['scenario_wall_s']:.0f}s")
        for method in ["default", "rules", *methods]:
            data = result["methods"][method]
            bo = data["best_objective"]["mean"]
            imp = data.get("improvement_over_default_pct", {}).get("mean")
            print(
                f"  {method:<8} best {bo if bo is None else f'{bo:.4g}'}"
                + ("" if imp is None else f"  vs default {imp:+.1f}%")
            )
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
