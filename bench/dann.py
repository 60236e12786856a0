"""Cost-model benchmark: the DANN against the baselines on the committed corpus, cross-validated by workload.

Protocols: ``grouped`` (5 folds by workload: no test workload is seen in training, in any domain) and ``row``
(5 folds of random rows, the card's protocol, which leaks workloads; for comparison with its numbers only).
In every fold each model gets the same training rows: the source domain fully labelled and 30% of every target
domain's labels. Models: ``dann`` (Huber + CORAL + adversarial), ``dann_plain`` (the same network without the
alignment terms), ``source_only`` (the network trained on the source domain alone), ``e2etune_forest``
(E2ETune's surrogate: random forest of 500 trees + gradient boosting, voting; knob and workload features), and
``lightgbm`` (every feature, plan embedding included). Also: training time on 2 cores and prediction throughput
on one core, and the noise ceiling: per domain, the within-workload Spearman that a perfect model would reach
against single runs as noisy as the corpus's repeated defaults.

    .venv/bin/python bench/dann.py                      # results: bench/results/dann.json
    .venv/bin/python bench/dann.py --folds 2 --epochs 10 --out /tmp/dann.json    # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from raytune.corpus import Corpus  # noqa: E402
from trainables.dann import (  # noqa: E402
    CostModel,
    DannConfig,
    DannData,
    PlanEmbedder,
    Split,
    WorkloadInput,
    evaluate_state,
    grouped_folds,
    load_data,
    make_split,
    score,
    train_dann,
    workload_inputs,
)

MODELS = ("dann", "dann_plain", "source_only", "e2etune_forest", "lightgbm")
DEFAULT_CORPUS = ROOT / "data" / "corpus"


def _row_folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def _tabular(data: DannData, plan: bool) -> np.ndarray:
    parts = [data.knobs, data.masks, data.workload, data.hardware] + ([data.plan] if plan else [])
    return np.concatenate(parts, axis=1)


def _fit_predict_tree(
    name: str, data: DannData, train: np.ndarray, test: np.ndarray, seed: int
) -> np.ndarray:
    if name == "e2etune_forest":
        from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor, VotingRegressor

        x = _tabular(data, plan=False)
        model: Any = VotingRegressor(
            [("rf", RandomForestRegressor(500, n_jobs=2, random_state=seed)),
             ("gb", GradientBoostingRegressor(random_state=seed))]
        )  # fmt: skip
    else:
        import lightgbm

        x = _tabular(data, plan=True)
        model = lightgbm.LGBMRegressor(n_estimators=400, learning_rate=0.05, num_leaves=31, n_jobs=2,
                                       random_state=seed, verbose=-1)  # fmt: skip
    model.fit(x[train], data.y[train])
    return np.exp(model.predict(x[test]))


def _score_rows(data: DannData, rows: np.ndarray, pred_s: np.ndarray) -> dict[str, Any]:
    true_s = np.exp(data.y[rows])
    groups = np.array([f"{w}|{d}" for w, d in zip(data.workload_ids[rows], data.domain[rows], strict=True)])
    return score(pred_s, true_s, groups, data.domain[rows], data.domains)


def run_fold(data: DannData, split: Split, cfg: DannConfig, models: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    labelled = split.train[split.labelled]
    for name in models:
        t0 = time.perf_counter()
        if name.startswith("dann") or name == "source_only":
            c, s = cfg, split
            if name == "dann_plain":
                c = replace(cfg, coral=0.0, adversarial=0.0)
            if name == "source_only":
                keep = data.domain[split.train] == split.source
                s = Split(split.train[keep], split.labelled[keep], split.val[data.domain[split.val] == split.source],
                          split.test, split.source)  # fmt: skip
                c = replace(cfg, coral=0.0, adversarial=0.0)
            state = train_dann(data, s, c).state
            assert state is not None
            result = evaluate_state(state, data, split.test)
        else:
            result = _score_rows(
                data, split.test, _fit_predict_tree(name, data, labelled, split.test, cfg.seed)
            )
        result["train_seconds"] = time.perf_counter() - t0
        out[name] = result
        pooled = result["pooled"]
        print(f"    {name:15s} spearman {pooled['spearman']:.3f}  MAPE {pooled['mape_pct']:5.1f}%  within-workload "
              f"{pooled['within_workload_spearman']:.3f}  regret {pooled['top1_regret']:.3f}  "
              f"({result['train_seconds']:.0f}s)", file=sys.stderr)  # fmt: skip
    return out


def summarise(folds: list[dict[str, Any]], models: list[str]) -> dict[str, Any]:
    """Mean and SD over folds of every metric, pooled and per domain; per-fold values kept."""
    out: dict[str, Any] = {}
    for m in models:
        scopes = sorted({k for f in folds for k in f[m] if isinstance(f[m][k], dict)})
        out[m] = {"folds": [f[m] for f in folds]}
        for scope in scopes:
            metrics = {}
            for key in ("spearman", "mape_pct", "rmse", "within_workload_spearman", "top1_regret"):
                vals = [f[m][scope][key] for f in folds if scope in f[m] and np.isfinite(f[m][scope][key])]
                metrics[key] = {"mean": statistics.fmean(vals) if vals else None,
                                "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0}  # fmt: skip
            out[m][scope] = metrics
        out[m]["train_seconds"] = statistics.fmean(f[m]["train_seconds"] for f in folds)
    return out


def prediction_throughput(state: dict[str, Any], corpus: Corpus, n: int = 10_000) -> float:
    """Configurations per second that ``CostModel.predict`` scores on one CPU core (features included)."""
    import torch

    from raytune.corpus._collect import latin_hypercube
    from raytune.optimizers import decode, param_specs
    from trainables.dann._features import slot_space

    torch.set_num_threads(1)
    model = CostModel(state)
    w: WorkloadInput = next(iter(workload_inputs(corpus).values()))
    space = slot_space(w.engine, w.cpus, w.memory_bytes)
    configs = [decode(space, p) for p in latin_hypercube(param_specs(space), n, seed=0)]
    model.predict(configs[:10], w)  # loads the plan embedder
    t0 = time.perf_counter()
    model.predict(configs, w)
    return n / (time.perf_counter() - t0)


def noise_ceilings(data: DannData) -> dict[str, Any]:
    """Per domain: the SD of one run (from repeated defaults) and the within-workload Spearman that a perfect
    model would reach against single runs with that noise."""
    from trainables.dann._evaluate import noise_ceiling, run_noise

    is_default = np.array([not c for c in data.configs])
    groups = np.array([f"{w}|{d}" for w, d in zip(data.workload_ids, data.domain, strict=True)])
    out: dict[str, Any] = {}
    for d, name in enumerate(data.domains):
        sel = data.domain == d
        sd = run_noise(data.y[sel], groups[sel], is_default[sel])
        out[name] = {
            "run_sd_log": sd,
            "within_workload_spearman": noise_ceiling(data.y[sel], groups[sel], sd),
        }
    return out


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it lies in it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=DannConfig.epochs)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--protocols", default="grouped,row")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "results" / "dann.json")
    args = p.parse_args()
    models = args.models.split(",")
    corpus = Corpus(args.corpus)
    t0 = time.perf_counter()
    data = load_data(corpus, PlanEmbedder())
    cfg = DannConfig(epochs=args.epochs, seed=args.seed)
    result: dict[str, Any] = {
        "command": " ".join(["python", "bench/dann.py", *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"platform": platform.platform(), "cpus": len(__import__("os").sched_getaffinity(0))},
        "corpus": _shown(args.corpus), "samples": len(data), "domains": data.domains,
        "workloads": len(set(data.workload_ids.tolist())), "label_fraction": cfg.label_fraction,
        "config": cfg.to_dict(), "noise_ceiling": noise_ceilings(data), "protocols": {},
    }  # fmt: skip
    last_state = None
    for protocol in args.protocols.split(","):
        print(f"{protocol}:", file=sys.stderr)
        if protocol == "grouped":
            folds = grouped_folds(data.workload_ids, args.folds, args.seed)
        else:
            folds = _row_folds(len(data), args.folds, args.seed)
        per_fold = []
        for i, test in enumerate(folds):
            print(f"  fold {i}: {len(test)} test rows", file=sys.stderr)
            split = make_split(data, test, label_fraction=cfg.label_fraction, seed=args.seed + i,
                               grouped=protocol == "grouped")  # fmt: skip
            per_fold.append(run_fold(data, split, cfg, models))
        result["protocols"][protocol] = summarise(per_fold, models)
    if "dann" in models:
        split = make_split(data, np.zeros(0, dtype=int), label_fraction=cfg.label_fraction, seed=args.seed)
        t1 = time.perf_counter()
        last_state = train_dann(data, split, cfg).state
        result["train_seconds_full_corpus"] = time.perf_counter() - t1
        result["predictions_per_second_one_core"] = prediction_throughput(last_state, corpus)
    result["wall_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"-> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
