"""Tuning benchmark: knobray's optimizers against the default and rule configurations, judged by confirmation.

Every method runs through the same search machinery (``raytune.tune.run_search``) with the same trial budget and
seeds, on instance slots with disjoint CPU sets, and every search ends with its confirmation stage: the top
configs, the rule config and the default re-measured alone on one slot, interleaved, in rounds. A method's
verdict is the confirmed ratio of the config its search crowned (config / default objective; below 1 is better
for latency, above 1 for throughput), its spread over the rounds, and whether the search called it significant.
Beside it: the in-search numbers (single runs, for the winner's-curse comparison), trials to come within 5% of
the best in-search result, wall time, trial overhead, and trials per hour with 1 and 2 slots (random search,
no confirmation).

    .venv/bin/python bench/tuning.py --scenario pg-tpch             # 4 methods x 3 seeds x (20 + 15) trials
    .venv/bin/python bench/tuning.py --scenario pg-tpch-sf1 --methods tpe,hebo --seeds 1
    .venv/bin/python bench/tuning.py --scenario pg-tpch --quick     # smoke test: tiny scale, few trials

Results go to ``bench/results/confirmed/tuning-<scenario>.json`` (and ``.png``) with the command that made them.
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
from raytune.search import summarize
from raytune.trial import MeasureSettings
from raytune.tune import SearchSpec, WorkloadSpec, run_search

HERE = Path(__file__).resolve().parent
KNOB_DATA = HERE.parent / "raytune" / "knobs" / "data"
OLAP = MeasureSettings(repeats=1, timeout_s=30, plans=False)
OLTP = MeasureSettings(duration_s=15, warmup_s=5, clients=4, plans=False)
SCENARIOS: dict[str, dict[str, Any]] = {
    "pg-tpch": {"engine": "postgres", "workload": "tpch", "sf": 0.1, "kind": "olap", "settings": OLAP},
    "pg-tpch-sf1": {
        "engine": "postgres",
        "workload": "tpch",
        "sf": 1,
        "kind": "olap",
        "settings": replace(OLAP, timeout_s=120),
    },
    "pg-oltp": {"engine": "postgres", "workload": "pgbench", "sf": 10, "kind": "oltp", "settings": OLTP},
    "pg-oltp-unsafe": {
        "engine": "postgres",
        "workload": "pgbench",
        "sf": 10,
        "kind": "oltp",
        "settings": OLTP,
        "allow_unsafe": True,  # durability knobs may be tuned: reported apart from the safe scenario
        "extra_knobs": {"synchronous_commit": {}, "full_page_writes": {}},
    },
    "maria-tpch": {"engine": "mariadb", "workload": "tpch", "sf": 0.1, "kind": "olap", "settings": OLAP},
    "maria-oltp": {"engine": "mariadb", "workload": "sysbench-rw", "sf": 1, "kind": "oltp", "settings": OLTP},
}
OPTIMIZERS = ["random", "hebo", "smac", "tpe"]
# A method tunes with an optimizer over a knob set; "-top8" restricts it to the 8 most important knobs of the
# ranking shipped with knobray (python -m raytune.importance).
METHODS = [*OPTIMIZERS, "tpe-top8"]


def _method(method: str, scn: dict[str, Any], where: Path) -> dict[str, Any]:
    """SearchSpec fields of ``method``: its optimizer, and a knob file for a top-K method."""
    optimizer, _, top = method.partition("-top")
    if not top:
        return {"optimizer": optimizer}
    from raytune.importance import top_knobs
    from raytune.knobs import write_knob_subset

    names = top_knobs(f"top:{top}", scn["engine"])
    return {
        "optimizer": optimizer,
        "knobs_file": write_knob_subset(scn["engine"], names, where / "knobs.json"),
    }


def _fresh_spec(scn: dict[str, Any], results: Path, **kw: Any) -> SearchSpec:
    """A search spec over an emptied ``results`` directory (a search refuses a directory holding records)."""
    shutil.rmtree(results, ignore_errors=True)
    return SearchSpec(
        results_dir=results,
        engine=scn["engine"],
        workload=WorkloadSpec(scn["workload"], scn["sf"]),
        workload_kind=scn["kind"],
        settings=scn["settings"],
        allow_unsafe=scn.get("allow_unsafe", False),
        **{"knobs_file": _knob_file(scn, results.parent) if scn.get("extra_knobs") else None, **kw},
    )


def _knob_file(scn: dict[str, Any], where: Path) -> Path:
    """The curated tunable set of the engine plus the scenario's extra knobs, as a knob file."""
    curated = json.loads((KNOB_DATA / f"{scn['engine']}-tunable.json").read_text())["knobs"]
    where.mkdir(parents=True, exist_ok=True)
    path = where / "knobs.json"
    path.write_text(json.dumps({"knobs": {**curated, **scn["extra_knobs"]}}, indent=1))
    return path


def _stats(values: list[float | None], per: str = "per_seed") -> dict[str, Any]:
    """Mean and sample SD of ``values`` (None skipped), which are kept under ``per``."""
    vals = [v for v in values if v is not None]
    return {
        "mean": statistics.fmean(vals) if vals else None,
        "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0 if vals else None,
        per: values,
    }


def _curve(rows: list[dict[str, Any]], better: Any) -> list[float | None]:
    best: float | None = None
    out: list[float | None] = []
    for r in rows:
        v = r["objective"] if r["status"] == "SUCCEEDED" else None
        if v is not None and (best is None or better(v, best)):
            best = v
        out.append(best)
    return out


def judge_search(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One search's numbers: in-search baselines and best, and the confirmed verdict on the crowned config."""
    summary = summarize(rows)
    objective = summary.objective
    crowned = summary.crowned
    in_search_ratio = None
    if crowned is not None and crowned.in_search is not None and summary.default:
        in_search_ratio = crowned.in_search / summary.default
    confirmed = crowned.median_to_default if crowned else None
    searched = [r for r in rows if not r.get("confirms")]
    overheads = [
        (r["timings"].get("apply_s", 0) + r["timings"].get("restart_s", 0)) / r["timings"]["run_s"]
        for r in searched
        if r["timings"].get("run_s")
    ]
    return {
        "default": summary.default,
        "rules": summary.rules,
        "best_in_search": summary.best,
        "statuses": summary.statuses,
        "crowned": crowned.confirms if crowned else None,
        "crowned_config": crowned.config if crowned else None,
        "confirmed_ratio_to_default": confirmed,
        "confirmed_ratios": list(crowned.ratio_to_default) if crowned else [],
        "confirmed_ratio_to_rules": crowned.median_to_rules if crowned else None,
        "rules_confirmed_ratio": next(
            (c.median_to_default for c in summary.confirmation.configs if c.confirms == "rules"), None
        )
        if summary.confirmation
        else None,
        "significant": summary.significant,
        "in_search_ratio_of_crowned": in_search_ratio,
        # How far the in-search ratio of the crowned config is from its confirmed ratio, relative to the latter.
        "in_search_vs_confirmed_pct": 100 * abs(in_search_ratio - confirmed) / confirmed
        if in_search_ratio is not None and confirmed
        else None,
        "curve": _curve(searched, objective.better),
        "trial_overhead_pct": 100 * statistics.median(overheads) if overheads else None,
    }


def run_scenario(
    name: str,
    trials: int,
    seeds: list[int],
    methods: list[str],
    out: Path,
    confirm: int,
    rounds: int,
    scaling: bool,
) -> dict[str, Any]:
    scn = SCENARIOS[name]
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for seed in seeds:
        for method in methods:
            t0 = time.perf_counter()
            spec = _fresh_spec(
                scn,
                out / method / f"seed{seed}",
                **_method(method, scn, out / method),
                trials=trials,
                seed=seed,
                instances=2,
                confirm=confirm,
                confirm_rounds=rounds,
            )
            judged = judge_search(run_search(spec).rows())
            judged["wall_s"] = time.perf_counter() - t0
            runs[method].append(judged)
            ratio = judged["confirmed_ratio_to_default"]
            print(
                f"  {name} {method} seed {seed}: confirmed {ratio if ratio is None else f'{ratio:.3f}'}"
                f" ({'significant' if judged['significant'] else 'not significant'}) in {judged['wall_s']:.0f}s",
                file=sys.stderr,
            )
    direction = "min" if scn["kind"] == "olap" else "max"
    finals = [r["curve"][-1] for m in methods for r in runs[m] if r["curve"] and r["curve"][-1] is not None]
    global_best = (min if direction == "min" else max)(finals) if finals else None

    def within(v: float) -> bool:
        return v <= 1.05 * global_best if direction == "min" else v >= 0.95 * global_best

    report: dict[str, Any] = {}
    for method in methods:
        rs = runs[method]
        report[method] = {
            "confirmed_ratio_to_default": _stats([r["confirmed_ratio_to_default"] for r in rs]),
            "confirmed_ratio_to_rules": _stats([r["confirmed_ratio_to_rules"] for r in rs]),
            "significant": [r["significant"] for r in rs],
            "in_search_ratio_of_crowned": _stats([r["in_search_ratio_of_crowned"] for r in rs]),
            "in_search_vs_confirmed_pct": _stats([r["in_search_vs_confirmed_pct"] for r in rs]),
            "rules_confirmed_ratio": _stats([r["rules_confirmed_ratio"] for r in rs]),
            "trials_to_within_5pct": [
                next((i + 1 for i, v in enumerate(r["curve"]) if v is not None and within(v)), None)
                for r in rs
            ]
            if global_best is not None
            else [],
            "wall_s": _stats([r["wall_s"] for r in rs]),
            "trial_overhead_pct": _stats([r["trial_overhead_pct"] for r in rs]),
            "runs": rs,
        }
    result: dict[str, Any] = {
        "scenario": name,
        **{k: v for k, v in scn.items() if k != "settings"},
        "settings": vars(scn["settings"]),
        "direction": direction,
        "trials": trials,
        "confirm": confirm,
        "confirm_rounds": rounds,
        "seeds": seeds,
        "global_best_in_search": global_best,
        "methods": report,
    }
    if scaling:
        result["scaling"] = _scaling(scn, out / "scaling", trials)
    return result


def _scaling(scn: dict[str, Any], out: Path, trials: int) -> dict[str, Any]:
    """Random search with 1 and with 2 slots of one shape (no confirmation): trials per hour."""
    node = detect_hardware()
    # The 2-slot shape for both runs: a single slot must not get twice the CPUs and memory.
    shape = {"slot_cpus": max(1, node.cores // 2), "slot_memory_bytes": node.ram_bytes // 2}
    result: dict[str, Any] = {"slot": shape}
    for n in (1, 2):
        t0 = time.perf_counter()
        name = f"random-{n}"
        spec = _fresh_spec(
            scn, out / name, optimizer="random", trials=trials, instances=n, confirm=0, **shape
        )
        run_search(spec)
        result[f"trials_per_hour_{n}"] = 3600 * trials / (time.perf_counter() - t0)
    result["speedup_2_vs_1"] = result["trials_per_hour_2"] / result["trials_per_hour_1"]
    return result


def plot(result: dict[str, Any], path: Path) -> None:
    """Confirmed ratio per method and seed (dots), with the rule config's; the line at 1 is the default."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    methods = list(result["methods"])
    for i, method in enumerate(methods):
        data = result["methods"][method]
        ours = [v for v in data["confirmed_ratio_to_default"]["per_seed"] if v is not None]
        rules = [v for v in data["rules_confirmed_ratio"]["per_seed"] if v is not None]
        ax.scatter([i] * len(ours), ours, color="tab:blue", label="crowned config" if i == 0 else None)
        ax.scatter(
            [i + 0.15] * len(rules), rules, color="tab:orange", marker="s", label="rules" if i == 0 else None
        )
    ax.axhline(1.0, linestyle="--", color="gray", label="default")
    ax.set_xticks(range(len(methods)), methods)
    ax.set_ylabel("confirmed ratio to the default")
    ax.set_title(f"{result['scenario']}: {result['engine']} {result['workload']} sf {result['sf']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _print(name: str, result: dict[str, Any], path: Path) -> None:
    print(f"{name}: wrote {path} in {result['scenario_wall_s']:.0f}s")
    for method, data in result["methods"].items():
        c = data["confirmed_ratio_to_default"]
        sig = sum(bool(s) for s in data["significant"])
        text = "-" if c["mean"] is None else f"{c['mean']:.3f} ± {c['sd']:.3f}"
        print(f"  {method:<8} confirmed/default {text}, significant in {sig} of {len(data['significant'])}")
    if "scaling" in result:
        print(f"  scaling 2 vs 1 slots: {result['scaling']['speedup_2_vs_1']:.2f}x")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--scenario", choices=sorted(SCENARIOS), action="append", help="repeatable; default: pg-tpch"
    )
    p.add_argument("--trials", type=int, default=20, help="search trials, baselines included (default 20)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--methods", help=f"comma-separated (default: {','.join(METHODS)}; --quick: random,tpe)")
    p.add_argument("--confirm", type=int, default=3, help="configs confirmed per search (default 3)")
    p.add_argument("--confirm-rounds", type=int, default=3)
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: sf 0.01, 4 trials, 1 seed, random + tpe unless --methods",
    )
    p.add_argument("--out", type=Path, default=HERE / "results" / "confirmed")
    p.add_argument("--work", type=Path, default=Path("results") / "bench-tuning")
    args = p.parse_args()
    methods = args.methods.split(",") if args.methods else list(METHODS)
    unknown = set(methods) - set(METHODS)
    if unknown:
        print(
            f"error: unknown method {', '.join(sorted(unknown))}; use {', '.join(METHODS)}",
            file=sys.stderr,
        )
        return 2
    scenarios = args.scenario or ["pg-tpch"]
    trials, seeds, confirm, rounds = args.trials, list(range(args.seeds)), args.confirm, args.confirm_rounds
    scaling = not args.no_scaling
    if args.quick:
        for name in scenarios:
            s = SCENARIOS[name]
            quick_settings = replace(s["settings"], duration_s=3, warmup_s=1)
            SCENARIOS[name] = {**s, "sf": 0.01 if s["kind"] == "olap" else 1, "settings": quick_settings}
        trials, seeds, confirm, rounds, scaling = 4, [0], 1, 2, False
        methods = methods if args.methods else ["random", "tpe"]
    suffix = "-quick" if args.quick else ""
    ray.init(
        address="local",
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
        t0 = time.perf_counter()
        work = args.work / f"{name}{suffix}"
        result = run_scenario(name, trials, seeds, methods, work, confirm, rounds, scaling)
        result["command"] = command
        result["when"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        result["machine"] = {**detect_hardware().to_dict(), "platform": platform.platform()}
        result["scenario_wall_s"] = time.perf_counter() - t0
        path = args.out / f"tuning-{name}{suffix}.json"
        path.write_text(json.dumps(result, indent=1, default=str) + "\n")
        plot(result, args.out / f"tuning-{name}{suffix}.png")
        _print(name, result, path)
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
