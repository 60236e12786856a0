"""What a cost model is scored on: accuracy (Spearman, MAPE, RMSE) and what tuning needs (per workload, does
the model rank that workload's configurations right, and how good is the configuration it would pick)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from scipy.stats import spearmanr


def accuracy(pred_s: np.ndarray, true_s: np.ndarray) -> dict[str, float]:
    """Spearman, MAPE (%) and RMSE (ms) of predicted vs measured mean latencies in seconds."""
    if len(true_s) < 2:
        return {"spearman": float("nan"), "mape_pct": float("nan"), "rmse": float("nan"), "n": len(true_s)}
    return {
        "spearman": float(spearmanr(pred_s, true_s).statistic),
        "mape_pct": float(100 * np.mean(np.abs(pred_s - true_s) / true_s)),
        "rmse": float(1000 * np.sqrt(np.mean((pred_s - true_s) ** 2))),
        "n": int(len(true_s)),
    }


def tuning_quality(pred_s: np.ndarray, true_s: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Mean within-group Spearman over groups with 3+ configurations, and mean top-1 regret: the measured cost
    of the configuration the model ranks first / the group's best measured cost."""
    by: dict[Any, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        by[g].append(i)
    rhos, regrets = [], []
    for idx in by.values():
        if len(idx) < 3:
            continue
        p, t = pred_s[idx], true_s[idx]
        if np.ptp(t) > 0 and np.ptp(p) > 0:
            rhos.append(spearmanr(p, t).statistic)
        regrets.append(t[int(np.argmin(p))] / t.min())
    return {
        "within_workload_spearman": float(np.mean(rhos)) if rhos else float("nan"),
        "top1_regret": float(np.mean(regrets)) if regrets else float("nan"),
        "groups": len(regrets),
    }


def score(
    pred_s: np.ndarray, true_s: np.ndarray, groups: np.ndarray, domains: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """Pooled and per-domain accuracy and tuning quality; ``groups`` are (workload, domain) keys."""
    out: dict[str, Any] = {"pooled": {**accuracy(pred_s, true_s), **tuning_quality(pred_s, true_s, groups)}}
    for d, name in enumerate(names):
        sel = domains == d
        if sel.any():
            out[name] = {
                **accuracy(pred_s[sel], true_s[sel]),
                **tuning_quality(pred_s[sel], true_s[sel], groups[sel]),
            }
    return out


def run_noise(log_latency: np.ndarray, groups: np.ndarray, is_default: np.ndarray) -> float:
    """The SD of one run's log latency, from workloads measured twice or more under the default: the median
    absolute difference of two such runs over sqrt(2) * 0.6745 (normal noise); 0 without repeated defaults."""
    diffs = []
    for g in np.unique(groups):
        runs = log_latency[(groups == g) & is_default]
        if len(runs) >= 2:
            diffs.append(abs(runs[0] - runs[1]))
    return float(np.median(diffs) / (np.sqrt(2) * 0.6745)) if diffs else 0.0


def noise_ceiling(log_latency: np.ndarray, groups: np.ndarray, noise_sd: float, draws: int = 200) -> float:
    """The within-workload Spearman a perfect model would reach against single noisy runs: per group, a true
    spread (the measured one shrunk by the noise variance) is measured again with ``noise_sd`` of noise, and the
    two are rank-correlated; the mean over groups and ``draws``."""
    rng = np.random.default_rng(0)
    rhos = []
    for g in np.unique(groups):
        t = log_latency[groups == g]
        if len(t) < 3 or np.ptp(t) == 0:
            continue
        centred = t - t.mean()
        shrink = np.sqrt(max(0.0, centred.var() - noise_sd**2) / centred.var())
        truth = centred * shrink
        for _ in range(draws):
            measured = truth + rng.normal(0.0, noise_sd, len(t))
            if np.ptp(truth) > 0 and np.ptp(measured) > 0:  # a constant array has no rank correlation
                rhos.append(spearmanr(truth, measured).statistic)
    return float(np.nanmean(rhos)) if rhos else float("nan")
