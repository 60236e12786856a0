"""Influence-diagram benchmark (Sullivan's thesis, chapter 7, scaled down): real Berkeley DB runs of db_perf mixes.

1. Training data: ``--train`` runs, each a random workload (``sample_mix``) with a random combination of the 32
   (page size 2K/8K, min_keys 2 / "4/16", DB_RMW, deadlock policy random/minlocks/minwrite/youngest).
2. Test data: ``--test`` fresh workloads (none equal to a training one) x all 32 combinations; the first
   ``--validation`` of them choose among variants (value-node bins 10 / 20; value weights pooled, as in the
   thesis, or within a kind of workload; value nodes holding ln(1 + loss) or the raw loss, as in the thesis:
   ``fit_diagram``; the structure: the thesis's, one additive deadlock-policy effect on the waits, and that with
   a deadlocks value node: ``VARIANTS``), by mean slowdown; the rest are the test set. ``variants_on_test``
   scores every variant on the test workloads too, for information only: it never chooses.
3. Methods, on the test workloads: the influence diagram, the default settings, the thesis's regression baseline
   (32 per-combination OLS fits of ln(throughput) with backward elimination, section 7.4.3), knobray's cost-model
   network trained on the same runs (``trainables.influence._dann``), and the learning curve of the diagram over
   training fractions; two simple references: the one combination best on the training runs (``best_fixed``) and
   a uniformly random pick (``random_pick``, its expectation). Per method: accuracy (% of workloads whose pick is
   within 5% of the best of the 32 measured, with a 95% Wilson interval), average slowdown of the non-optimal
   picks, mean slowdown over all, the tail; for the three models, ``ranking``: how well their predictions
   order the 32 combinations of each workload (median Spearman with the measured ln(throughput));
   ``value_scale_cv_r2``: how much of ln(throughput) the value nodes explain on each scale. ``measurement``
   says how precise one run is; ``--repeatability K`` measures the first K test workloads a second time: the
   run-to-run spread, and the accuracy of a perfect picker on single runs (the best of one pass scored on the
   other), the ceiling of the metric at this precision.

4. ``--holdout K`` (with ``--fresh``): the clean protocol. K further workloads x 32 combinations are measured
   after everything above; every earlier run is design data (the random-workload runs and the test and fresh
   grids), the diagram's variant (also the ``shared-knobs``, ``shared-pages`` and ``conflicts`` structures and
   40 value bins) is
   chosen by 5-fold cross-validation over the grid workloads, and the chosen diagram and every other method,
   learned from all the design data, are scored once on the K workloads (``holdout`` in the result), with the
   chosen settings under the ``conflicts`` structure for comparison (its picks are confirmed too).
   ``--holdout-seen N``: the first N of them were scored before a change to the methods; they join the design
   data and only the other K - N are scored: a new clean holdout.

5. ``--confirm R``: the scoring reference re-measured. Single runs crown a best that is partly luck (the winner's
   curse) and cannot tell combinations 5% apart, so each workload of the ``--confirm-sets`` (holdout and fresh by
   default; test too) has its 3 fastest combinations on single runs and every method's pick measured again in R
   rounds interleaved with the default (the search's confirmation schedule, alone on the slot); each combination
   scores its median within-round ratio to the default, the best of those is the reference, and the methods are
   scored against it (``confirmed`` in the result, with ``single_run_best``: the single runs' own winner, and
   ``ceiling``: how often a picker that knew the true ratios would score within 5% of such a reference, at the
   round-to-round spread measured).

Runs go through the search machinery (Ray Tune, ``--instances`` instances in their slots, one by default: two
co-running runs on a 2-core machine measure their contention; records in Parquet under ``--work``, by default
``data/bdb-runs/<design>/`` such as ``sf0.2-20s-1x-native``, compacted after each batch so that a collection can be
committed and shipped); a rerun resumes: measured (mix, configuration) pairs of the same design are not
repeated.

``--postgres`` runs the generic part instead: the PostgreSQL diagram (``trainables.influence._postgres``) learned
from the corpus's domain of this machine's slot, on held-out workloads (TPC-H 22, E2ETune sets never collected,
TPC-DS 99 with ``--tpcds``), against the default, PGTune's configuration and the cost model's pick, each
workload one search with a confirmation stage (re-measured interleaved with the default, in rounds).

    .venv/bin/python bench/influence.py                          # results: bench/results/influence.json
    .venv/bin/python bench/influence.py --train 40 --test 3 --validation 1 --out /tmp/i.json   # a quick look
    .venv/bin/python bench/influence.py --fresh 6 --holdout 8      # the clean protocol: scored once
    .venv/bin/python bench/influence.py --fresh 6 --holdout 8 --confirm 3   # ... against re-measured bests
    .venv/bin/python bench/influence.py --fresh 6 --holdout 14 --holdout-seen 8 --confirm 3   # 6 more, after a change
    .venv/bin/python bench/influence.py --sf 5 --out bench/results/influence-sf5.json   # 122,500 items
    .venv/bin/python bench/influence.py --sf 5 --train 450 --out bench/results/influence-sf5-train450.json
    .venv/bin/python bench/influence.py --repeatability 3         # results: bench/results/influence-repeatability.json
    .venv/bin/python bench/influence.py --postgres --workloads 6  # results: bench/results/influence-postgres.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import shutil
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from raytune.storage import TrialStore  # noqa: E402
from raytune.trial import MeasureSettings  # noqa: E402
from raytune.workloads import parse_mix  # noqa: E402
from trainables.influence import (  # noqa: E402
    COMBINATIONS,
    DECISIONS,
    MIX,
    VALUE_SCALES,
    VARIANTS,
    WEIGHTS,
    Examples,
    NodeKind,
    berkeleydb_structure,
    decision_states,
    examples_from_rows,
    fit_diagram,
    knob_config,
    mdl_discretize,
    scaled_values,
    training_design,
    weight_rows,
)
from trainables.influence._dann import DannPicker  # noqa: E402

COMBOS = COMBINATIONS
COMBOS_KEYS = [tuple(c.values()) for c in COMBOS]
DEFAULT = {d: s[0] for d, s in DECISIONS.items()}
ACCURATE = 0.05  # slowdown below 5%: "accurate" (thesis 2.2)
TEST_SEED_BASE = 1_000_000  # test mixes are drawn from seeds no training mix uses
MIN_TPS = 1e-3  # a run with no commit in its window (a deadlock storm) counts as this for logarithms


def combo_key(states: dict[str, str]) -> tuple[str, ...]:
    return tuple(states[d] for d in DECISIONS)


# ----- collection --------------------------------------------------------------------------------------------
def training_mixes(args: argparse.Namespace) -> set[tuple[float, ...]]:
    """The characteristics of every training workload (no test workload may equal one)."""
    return {tuple(parse_mix(f"random:{i}").to_dict().values()) for i in range(args.train)}


def test_items(n: int, train_mixes: set[tuple[float, ...]]) -> list[dict[str, Any]]:
    """All 32 combinations of ``n`` fresh workloads (skipping a mix equal to a training one)."""
    items, seed = [], TEST_SEED_BASE
    while len({i["mix"] for i in items}) < n:
        mix = f"random:{seed}"
        seed += 1
        if tuple(parse_mix(mix).to_dict().values()) in train_mixes:
            continue
        items += [{"mix": mix, "config": knob_config(c), "label": "test"} for c in COMBOS]
    return items


def later_test_items(skip: int, n: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The items of the ``n`` test workloads after the first ``skip`` (fresh and holdout sets)."""
    return test_items(skip + n, training_mixes(args))[len(COMBOS) * skip :]


def holdout_plan(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The items of the ``--holdout`` workloads (after the test and fresh ones), split: the first
    ``--holdout-seen`` were scored before (design data now), the rest are to be scored."""
    skip, seen = args.test + args.fresh, args.holdout_seen
    return later_test_items(skip, seen, args), later_test_items(skip + seen, args.holdout - seen, args)


def mix_key(mix: dict[str, Any]) -> tuple[float, ...]:
    """A workload's characteristics as a key (the same workload in runs, tables and results files)."""
    return tuple(float(mix[k]) for k in MIX)


def _run_key(mix: dict[str, float], config: dict[str, Any]) -> tuple[Any, ...]:
    return (*mix_key(mix), *combo_key(decision_states(config)))


def _item_key(item: dict[str, Any]) -> tuple[Any, ...]:
    return _run_key(parse_mix(item["mix"]).to_dict(), item["config"])


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return _run_key(row["workload"]["mix"], row.get("config") or {})


def _confirm_item_key(item: dict[str, Any]) -> tuple[Any, ...]:
    return (*mix_key(parse_mix(item["mix"]).to_dict()), item["confirms"], item["round"])


def _confirm_row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (*mix_key(row["workload"]["mix"]), row.get("confirms"), row.get("round"))


def collect(
    items: list[dict[str, Any]], where: Path, args: argparse.Namespace, confirmation: bool = False
) -> list[dict[str, Any]]:
    """Measures the items not yet in ``where`` (each once, on the pool, in order) and returns their records.
    An item is known by its workload and configuration, or, for ``confirmation`` runs, by its workload, the
    combination it confirms and its round."""
    from raytune.tune import SearchSpec, WorkloadSpec, measure_given

    item_key, row_key = (_confirm_item_key, _confirm_row_key) if confirmation else (_item_key, _row_key)

    def recorded() -> dict[tuple[Any, ...], dict[str, Any]]:
        """Succeeded runs by key (a failed one is tried again; the last record of a key wins)."""
        rows = TrialStore(where).rows()
        return {row_key(r): r for r in rows
                if r.get("status") == "SUCCEEDED" and "mix" in (r.get("workload") or {})}  # fmt: skip

    done = recorded()
    todo = [i for i in items if item_key(i) not in done]
    print(
        f"{where.name}: {len(items) - len(todo)} of {len(items)} runs recorded, {len(todo)} to go",
        file=sys.stderr,
    )
    if todo:
        spec = SearchSpec(results_dir=where, engine="berkeleydb", workload=WorkloadSpec("dbperf", args.sf),
                          workload_kind="oltp", settings=MeasureSettings(duration_s=args.duration), optimizer="configs",
                          instances=args.instances, confirm=0, baselines=False)  # fmt: skip
        for start in range(0, len(todo), args.batch):  # batches: an interrupted collection loses one at most
            measure_given(spec, todo[start : start + args.batch], f"{where.name}-{int(time.time())}")
            TrialStore(where).compact()  # one file per collection, fit to commit
            shutil.rmtree(where / "ray", ignore_errors=True)  # Ray Tune's own logs of the stage
    done = recorded()
    missing = [i for i in items if item_key(i) not in done]
    if missing:
        print(f"{where.name}: {len(missing)} runs did not succeed (e.g. {missing[0]['mix']} "
              f"{missing[0]['config']}); their workloads are left out of the test set", file=sys.stderr)  # fmt: skip
    return [done[item_key(i)] for i in items if item_key(i) in done]  # this plan's runs only


# ----- methods -----------------------------------------------------------------------------------------------
def regression_terms(m: dict[str, float]) -> dict[str, float]:
    """The thesis's candidate terms (table 7.6): the 8 characteristics and ci, i/p, ci/p, uw, iuw, ciuw, si, read
    here as c = concurrency, i = mean items per transaction, p = def_page_loc, u = pct_updates,
    w = pct_writes_upd, s = size_loc."""
    c, p, u, w, s = m["concurrency"], m["def_page_loc"], m["pct_updates"], m["pct_writes_upd"], m["size_loc"]
    i = m["pct_cursors"] / 100 * m["items_curs"] + (1 - m["pct_cursors"] / 100) * m["items_non_curs"]
    return {**{k: m[k] for k in MIX}, "ci": c * i, "i/p": i / p, "ci/p": c * i / p, "uw": u * w, "iuw": i * u * w,
            "ciuw": c * i * u * w, "si": s * i}  # fmt: skip


def fit_backward(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """OLS with backward elimination: drop the term of highest p-value while its 95% interval contains 0."""
    from scipy import stats

    keep = list(range(x.shape[1]))
    while True:
        design = np.column_stack([np.ones(len(y)), x[:, keep]])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        dof = len(y) - design.shape[1]
        if dof <= 0 or not keep:
            return coef, keep
        resid = y - design @ coef
        sigma2 = resid @ resid / dof
        cov = sigma2 * np.linalg.pinv(design.T @ design)
        se = np.sqrt(np.maximum(np.diag(cov), 1e-300))
        p = 2 * stats.t.sf(np.abs(coef / se), dof)
        worst = int(np.argmax(p[1:]))
        if p[1:][worst] <= 0.05:
            return coef, keep
        keep.pop(worst)


class RegressionBaseline:
    """Per combination, ln(throughput) regressed on the candidate terms; the pick has the highest prediction."""

    def __init__(self, train: Examples) -> None:
        self.models: dict[tuple[str, ...], tuple[np.ndarray, list[int], np.ndarray, np.ndarray]] = {}
        rows = [{k: float(train.columns[k][r]) for k in MIX} for r in range(len(train))]
        terms = np.array([list(regression_terms(m).values()) for m in rows])
        mean, sd = terms.mean(axis=0), np.maximum(terms.std(axis=0), 1e-9)
        combos = [tuple(str(train.columns[d][r]) for d in DECISIONS) for r in range(len(train))]
        for combo in set(combos):
            idx = np.array([c == combo for c in combos])
            x = (terms[idx] - mean) / sd
            coef, keep = fit_backward(x, np.log(np.maximum(train.throughput[idx], MIN_TPS)))
            self.models[combo] = (coef, keep, mean, sd)

    def predict(self, mix: dict[str, float]) -> dict[tuple[str, ...], float]:
        """Predicted ln(throughput) of every combination seen in training."""
        t = np.array(list(regression_terms(mix).values()))
        return {
            combo: float(coef[0] + ((t - mean) / sd)[keep] @ coef[1:])
            for combo, (coef, keep, mean, sd) in self.models.items()
        }

    def pick(self, mix: dict[str, float]) -> dict[str, str]:
        predicted = self.predict(mix)
        return dict(zip(DECISIONS, max(predicted, key=predicted.get), strict=True))


def ranking(predict: Any, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """How well a method orders the 32 combinations of each workload: the Spearman correlation of its predicted
    utility with the measured ln(throughput), per workload (less noisy than whether the one pick is within 5%)."""
    from scipy.stats import spearmanr

    rhos = []
    for e in entries:
        predicted = predict(e["mix"])
        keys = [k for k in COMBOS_KEYS if k in predicted]
        measured = [np.log(max(e["tps"][k], MIN_TPS)) for k in keys]
        rhos.append(float(spearmanr([predicted[k] for k in keys], measured).statistic))
    ranked = [r for r in rhos if not np.isnan(r)]  # NaN: the method predicted one value for all 32
    return {
        "spearman_median": statistics.median(ranked) if ranked else None,
        "spearman_quartiles": [float(q) for q in np.quantile(ranked, [0.25, 0.75])] if ranked else None,
        "workloads": len(rhos),
        "constant_predictions": len(rhos) - len(ranked),
    }


def test_table(rows: list[dict[str, Any]]) -> dict[tuple[float, ...], dict[str, Any]]:
    """Per test workload: its mix and the throughput of each combination measured."""
    table: dict[tuple[float, ...], dict[str, Any]] = defaultdict(lambda: {"mix": None, "tps": {}})
    for r in rows:
        if r.get("status") != "SUCCEEDED" or r.get("engine") != "berkeleydb":
            continue
        key = workload_key(r)
        entry = table[key]
        entry["mix"] = dict(zip(MIX, key, strict=True))
        entry["tps"][combo_key(decision_states(r.get("applied") or {}))] = float(r["objective"])
    return {k: v for k, v in table.items() if len(v["tps"]) == len(COMBOS)}


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    p, denom = successes / n, 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def best_fixed_combination(train: Examples) -> dict[str, str]:
    """The one combination of highest mean ln(throughput) over the training runs (a strong simple baseline)."""
    logs: dict[tuple[str, ...], list[float]] = defaultdict(list)
    for r in range(len(train)):
        combo = tuple(str(train.columns[d][r]) for d in DECISIONS)
        logs[combo].append(float(np.log(max(train.throughput[r], MIN_TPS))))
    return dict(zip(DECISIONS, max(logs, key=lambda c: statistics.fmean(logs[c])), strict=True))


def measurement_quality(rows: list[dict[str, Any]], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """How precise one run is: steady-state share, the relative standard error of a run's window mean, and how
    many of the 32 combinations lie within 5% of each test workload's best (ties a single run cannot break)."""
    rel_se, steady = [], []
    for r in rows:
        oltp = r.get("oltp") or {}
        window = (oltp.get("samples_tps") or [])[-int((oltp.get("steady") or {}).get("window") or 5) :]
        if len(window) > 1 and statistics.fmean(window) > 0:
            rel_se.append(statistics.stdev(window) / statistics.fmean(window) / np.sqrt(len(window)))
        steady.append(bool((oltp.get("steady") or {}).get("stable")))
    near = [sum(t >= (1 - ACCURATE) * max(e["tps"].values()) for t in e["tps"].values()) for e in entries]
    return {
        "runs": len(rows),
        "steady_pct": 100 * statistics.fmean(steady) if steady else None,
        "window_rel_se_pct_median": 100 * statistics.median(rel_se) if rel_se else None,
        "window_rel_se_pct_p90": 100 * float(np.quantile(rel_se, 0.9)) if rel_se else None,
        "combinations_within_5pct_of_best_median": statistics.median(near) if near else None,
    }


def best_pick(entry: dict[str, Any]) -> dict[str, str]:
    """The combination measured fastest for a test workload (``test_table`` entry)."""
    return dict(zip(DECISIONS, max(entry["tps"], key=entry["tps"].get), strict=True))


def repeatability(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> dict[str, Any]:
    """Two independent passes over the same workloads x 32 combinations: how far one run of a combination lies
    from another run of it, and the accuracy of a perfect picker on single runs (the best of one pass scored
    on the other, both ways): the ceiling of the thesis's metric at this precision of measurement."""
    from scipy import stats

    a, b = test_table(first), test_table(second)
    common = sorted(set(a) & set(b))
    logs = [abs(np.log(b[k]["tps"][c] / a[k]["tps"][c])) for k in common for c in COMBOS_KEYS
            if a[k]["tps"][c] > 0 and b[k]["tps"][c] > 0]  # fmt: skip
    oracle = [(best_pick(x[k]), y[k]) for k in common for x, y in ((a, b), (b, a))]
    per_workload = [
        {"mix": a[k]["mix"], "spearman": float(stats.spearmanr([a[k]["tps"][c] for c in COMBOS_KEYS],
                                                               [b[k]["tps"][c] for c in COMBOS_KEYS])[0]),
         "best_first": max(a[k]["tps"], key=a[k]["tps"].get), "best_second": max(b[k]["tps"], key=b[k]["tps"].get),
         "best_tps": [max(a[k]["tps"].values()), max(b[k]["tps"].values())], **drift(a[k], b[k])}
        for k in common
    ]  # fmt: skip
    return {
        "workloads": len(common),
        "pairs": len(logs),
        "abs_log_ratio_pct_median": 100 * statistics.median(logs) if logs else None,
        "abs_log_ratio_pct_p90": 100 * float(np.quantile(logs, 0.9)) if logs else None,
        "pairs_apart_5pct_or_more_pct": 100 * statistics.fmean(x >= np.log(1 / (1 - ACCURATE)) for x in logs)
        if logs
        else None,
        "spearman_median": statistics.median(w["spearman"] for w in per_workload) if per_workload else None,
        "oracle": score(oracle) if oracle else None,
        "per_workload": per_workload,
    }


def drift(first: dict[str, Any], second: dict[str, Any]) -> dict[str, float]:
    """One workload's second pass against its first: the median ln(second / first) over its combinations (a
    shift of the whole workload) and their SD about it (how far the combinations move apart)."""
    logs = np.log([second["tps"][c] / first["tps"][c] for c in COMBOS_KEYS])
    return {"ln_ratio_median": float(np.median(logs)), "ln_ratio_sd": float(np.std(logs))}


def rescore_picks(per_workload: list[dict[str, Any]], first: list[dict[str, Any]], second: list[dict[str, Any]]
                  ) -> dict[str, Any]:  # fmt: skip
    """A results file's picks (its ``per_workload``) on the workloads measured twice, scored against the first
    pass (as that file scored them), the second pass, and the geometric mean of both passes: how much of a
    method's score is the noise of the single runs it is judged by."""
    a, b = test_table(first), test_table(second)
    picks = {mix_key(w["mix"]): w for w in per_workload}
    common = sorted(set(a) & set(b) & set(picks))
    if not common:
        return {"workloads": 0}
    both = {k: {"mix": a[k]["mix"], "tps": {c: float(np.sqrt(a[k]["tps"][c] * b[k]["tps"][c])) for c in COMBOS_KEYS}}
            for k in common}  # fmt: skip
    methods = {m: {k: dict(zip(DECISIONS, picks[k][m], strict=True)) for k in common}
               for m in ("influence_diagram", "regression", "dann")}  # fmt: skip
    methods["default"] = {k: DEFAULT for k in common}
    methods["oracle_of_first"] = {k: best_pick(a[k]) for k in common}
    return {
        "workloads": len(common),
        **{ref: {m: score([(chosen[k], table[k]) for k in common]) for m, chosen in methods.items()}
           for ref, table in (("first", a), ("second", b), ("mean_of_both", both))},
    }  # fmt: skip


def value_scale_fit(train: Examples, folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Per value scale, the cross-validated R² of ln(throughput) from the value nodes (OLS on the training runs
    the weights are fitted on): how much of what the knobs change the diagram's utility can express."""
    values = berkeleydb_structure().names(NodeKind.VALUE)
    train = train.subset(np.flatnonzero(weight_rows(train, values)))  # the runs the weights are fitted on
    y = np.log(np.maximum(train.throughput, MIN_TPS))
    parts = np.array_split(np.random.default_rng(seed).permutation(len(train)), folds)
    fit = {}
    for scale in VALUE_SCALES:
        scaled = scaled_values(train, values, scale)
        x = np.column_stack([np.ones(len(train)), *(scaled.columns[v].astype(float) for v in values)])
        predicted = np.empty_like(y)
        for held in parts:
            kept = np.setdiff1d(np.arange(len(train)), held)
            coef, *_ = np.linalg.lstsq(x[kept], y[kept], rcond=None)
            predicted[held] = x[held] @ coef
        fit[scale] = float(1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2))
    return fit


def score(picks: list[tuple[dict[str, str], dict[str, Any]]]) -> dict[str, Any]:
    """The thesis's metrics over (pick, test workload) pairs."""
    slowdowns = []
    for pick, entry in picks:
        best = max(entry["tps"].values())
        slowdowns.append((best - entry["tps"][combo_key(pick)]) / best if best > 0 else 0.0)
    nonoptimal = [s for s in slowdowns if s > 0]
    accurate = sum(s < ACCURATE for s in slowdowns)
    return {
        "accuracy_pct": 100 * accurate / len(slowdowns),
        "accuracy_ci95_pct": [100 * b for b in wilson_interval(accurate, len(slowdowns))],
        "optimal_pct": 100 * float(np.mean([s == 0 for s in slowdowns])),
        "avg_slowdown_nonoptimal_pct": 100 * statistics.fmean(nonoptimal) if nonoptimal else 0.0,
        "mean_slowdown_pct": 100 * statistics.fmean(slowdowns),
        "tail_ge_10pct_pct": 100 * float(np.mean([s >= 0.10 for s in slowdowns])),
        "max_slowdown_pct": 100 * max(slowdowns),
        "workloads": len(slowdowns),
    }


def score_methods(pickers: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Each picker's score on ``entries``, and a uniformly random pick's (its expectation: every combination
    once per workload)."""
    return {
        **{name: score([(pick(e["mix"]), e) for e in entries]) for name, pick in pickers.items()},
        "random_pick": {
            **score([(dict(zip(DECISIONS, c, strict=True)), e) for e in entries for c in e["tps"]]),
            "workloads": len(entries),
        },
    }


def variant_name(bins: int, weights: str, scale: str, structure: str) -> str:
    return f"{bins}-{weights}-{scale}-{structure}"


FIRST_VARIANTS = VARIANTS[:3]  # the structures the validation split chooses among (the first protocol)


def fit_variants(
    train: Examples, structures: tuple[str, ...] = FIRST_VARIANTS, value_bins: tuple[int, ...] = (10, 20)
) -> dict[str, Any]:
    """Every variant of the diagram (structure x value scale x value-node bins x weight fit) learned from
    ``train``, by ``variant_name``; one MDL discretization per set of arcs and bin count."""
    variants, bins_found = {}, {}
    for structure, scale, bins, weights in itertools.product(structures, VALUE_SCALES, value_bins, WEIGHTS):
        s = berkeleydb_structure(variant=structure)
        arcs = (bins, tuple((n.name, n.parents) for n in s.nodes))  # what MDL depends on among the variants
        if arcs not in bins_found:
            bins_found[arcs] = mdl_discretize(train, s, value_bins=bins)
        model = fit_diagram(
            train, s, value_bins=bins, weights=weights, value_scale=scale, disc=bins_found[arcs]
        )
        model.meta["variant"] = structure
        variants[variant_name(bins, weights, scale, structure)] = model
    return variants


def _validation_loss(scored: dict[str, Any] | None) -> tuple[float, float]:
    """Variants are ranked by mean slowdown on the validation workloads (smoother than accuracy on a few
    workloads), then by accuracy; without validation workloads, or on a tie, the first variant stays (10 bins,
    pooled weights, log-scale value nodes: the scale that explains ln(throughput) best on the training runs)."""
    if not scored:
        return (0.0, 0.0)
    return (scored["mean_slowdown_pct"], -scored["accuracy_pct"])


def method_pickers(
    train: Examples, diagram: Any, seed: int, dann_epochs: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each method's picker (workload characteristics -> decision states) and, for the three models, its
    predictor (characteristics -> utility per combination), every one learned from ``train``."""
    regression = RegressionBaseline(train)
    dann = DannPicker(train, epochs=dann_epochs, seed=seed)
    fixed = best_fixed_combination(train)
    pickers = {
        "influence_diagram": lambda m: diagram.recommend(m)[0],
        "default": lambda m: DEFAULT,
        "regression": regression.pick,
        "dann": dann.pick,
        "best_fixed": lambda m: fixed,
    }
    predictors = {
        "influence_diagram": lambda m: {k: diagram.expected_utility(m, dict(zip(DECISIONS, k, strict=True)))
                                        for k in COMBOS_KEYS},
        "regression": regression.predict,
        "dann": lambda m: dict(zip(COMBOS_KEYS, dann.predict(m), strict=True)),
    }  # fmt: skip
    return pickers, predictors


def score_with_ranking(
    pickers: dict[str, Any], predictors: dict[str, Any], entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """``score_methods``, with each model's ``ranking`` of the 32 combinations."""
    methods = score_methods(pickers, entries)
    for name, predict in predictors.items():
        methods[name]["ranking"] = ranking(predict, entries)
    return methods


def picks_per_workload(pickers: dict[str, Any], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per workload: the measured best, the default's throughput and the models' picks."""
    return [
        {"mix": e["mix"], "best": max(e["tps"], key=e["tps"].get), "best_tps": max(e["tps"].values()),
         "default_tps": e["tps"][combo_key(DEFAULT)],
         **{name: combo_key(pickers[name](e["mix"])) for name in picked_methods(pickers)}}
        for e in entries
    ]  # fmt: skip


# ----- confirmation: a scoring reference re-measured -----------------------------------------------------------
PICKED = ("influence_diagram", "regression", "dann", "best_fixed")  # the methods whose picks are confirmed
ALSO_PICKED = ("influence_diagram_conflicts",)  # ... and, where the protocol has it, a diagram for comparison
CONFIRM_TOP = 3  # each workload's fastest combinations on its single runs, confirmed with the picks


def picked_methods(available: Any) -> tuple[str, ...]:
    """The methods whose picks are confirmed: every one of ``PICKED`` and those of ``ALSO_PICKED`` in
    ``available`` (pickers or a ``picks_per_workload`` entry)."""
    return (*PICKED, *(m for m in ALSO_PICKED if m in available))


def combo_label(combo: tuple[str, ...]) -> str:
    """A combination as a confirmation label: ``2048,4/16,on,minlocks``."""
    return ",".join(combo)


def label_combo(label: str) -> tuple[str, ...]:
    """The combination of a confirmation label (the default's states for ``default``)."""
    return combo_key(DEFAULT) if label == "default" else tuple(label.split(","))


def confirm_items(
    entry: dict[str, Any], picks: dict[str, Any], mix: str, rounds: int
) -> list[dict[str, Any]]:
    """One workload's confirmation runs: its ``CONFIRM_TOP`` fastest combinations on single runs and every
    method's pick (``picks_per_workload``), re-measured in ``rounds`` rounds interleaved with the default (the
    search's confirmation schedule: the default first in every round, the others reversed every other round)."""
    from raytune.confirmation import schedule

    top = sorted(entry["tps"], key=entry["tps"].get, reverse=True)[:CONFIRM_TOP]
    picked = [tuple(picks[m]) for m in picked_methods(picks)]
    combos = [c for c in dict.fromkeys([*top, *picked]) if c != combo_key(DEFAULT)]
    plan = schedule([(combo_label(c), knob_config(dict(zip(DECISIONS, c, strict=True)))) for c in combos], None, rounds)  # fmt: skip
    return [{"mix": mix, "config": i.config, "label": None, "confirms": i.confirms, "round": i.round} for i in plan]  # fmt: skip


def confirmed_runs(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[int, float]]:
    """One workload's confirmation runs: per combination (the default's under its states), throughput by round."""
    runs: dict[tuple[str, ...], dict[int, float]] = defaultdict(dict)
    for r in rows:
        if r.get("status") == "SUCCEEDED" and r.get("confirms"):
            runs[label_combo(r["confirms"])][int(r["round"])] = float(r["objective"])
    return runs


def within_round_ratios(mine: dict[int, float], other: dict[int, float]) -> list[float]:
    """``mine`` / ``other`` in each round both were measured (two runs minutes apart, drift cancelled)."""
    return [mine[r] / max(other[r], MIN_TPS) for r in sorted(mine) if r in other]


def beats(mine: dict[int, float], other: dict[int, float]) -> bool:
    """Faster than ``other`` beyond the noise, by the search's confirmation rule (``beyond_noise``)."""
    from raytune.confirmation import beyond_noise
    from raytune.records import Objective

    return beyond_noise(within_round_ratios(mine, other), Objective.for_workload(False))


def confirmed_scores(rows: list[dict[str, Any]], per_workload: list[dict[str, Any]]) -> dict[str, Any]:
    """The methods scored against re-measured throughput: per workload, each confirmed combination's median
    within-round ratio to the default, the best of them the reference. Also scored: ``single_run_best`` (the
    fastest combination of the single runs: a perfect picker on one pass, the winner's curse measured) and
    ``default``. Per workload: the ratios by round and whether the best beats each pick beyond the noise (``beats``);
    per method, on how many workloads it did (``beaten_beyond_noise``: the misses the rounds prove)."""
    by_workload: dict[tuple[float, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_workload[workload_key(r)].append(r)
    picks: dict[str, list[tuple[dict[str, str], dict[str, Any]]]] = defaultdict(list)
    detail = []
    for w in per_workload:
        runs = confirmed_runs(by_workload[mix_key(w["mix"])])
        default = runs.get(combo_key(DEFAULT), {})
        ratios = {c: statistics.median(x) for c, v in runs.items() if (x := within_round_ratios(v, default))}
        chosen = {m: tuple(w[m]) for m in PICKED} | {"single_run_best": tuple(w["best"]), "default": combo_key(DEFAULT)}  # fmt: skip
        if not all(c in ratios for c in chosen.values()):
            continue  # a pick or the default failed in every round: the workload cannot be scored
        chosen |= {
            m: tuple(w[m]) for m in ALSO_PICKED if m in w and tuple(w[m]) in ratios
        }  # where it was measured
        entry = {"mix": w["mix"], "tps": ratios}
        for m, c in chosen.items():
            picks[m].append((dict(zip(DECISIONS, c, strict=True)), entry))
        best = max(ratios, key=ratios.get)
        detail.append({"mix": w["mix"], "best": best, "rounds": len(default),
                       "ratio_to_default": {combo_label(c): within_round_ratios(v, default) for c, v in runs.items()},
                       "best_beats": {m: beats(runs[best], runs[c]) for m, c in chosen.items() if c != best}})  # fmt: skip
    methods = {m: score(p) for m, p in picks.items()}
    # the misses the rounds prove: every round slower than the best, beyond the noise
    for m, scored in methods.items():
        scored["beaten_beyond_noise"] = sum(d["best_beats"].get(m, False) for d in detail)
    rounds = max((d["rounds"] for d in detail), default=0)
    return {
        "rounds": rounds,
        "methods": methods,
        "ceiling": perfect_picker_ceiling(detail, rounds),
        "per_workload": detail,
    }


def perfect_picker_ceiling(detail: list[dict[str, Any]], rounds: int, draws: int = 200, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """What the confirmed scores can show: how often a picker that knows each combination's true ratio to the
    default would land within 5% of a reference measured like this one. The true ratios are taken as the
    confirmed medians (``detail``: ``confirmed_scores``' per workload), each run's ln throughput is drawn
    around them with the spread measured across rounds (the median over combinations of the SD of ln ratio, over
    sqrt(2): a ratio holds two runs; the default's run of a round is shared by every ratio of that round), and
    the reference is the best median of ``rounds`` rounds; also with 5 and 9 rounds, for comparison."""
    spreads = [statistics.stdev(np.log(r)) for d in detail for c, r in d["ratio_to_default"].items()
               if label_combo(c) != combo_key(DEFAULT) and len(r) > 1]  # fmt: skip
    if not spreads or not rounds:
        return {"round_sd_ln_pct": None, "perfect_picker_accuracy_pct": {}}
    sd, rng = statistics.median(spreads), np.random.default_rng(seed)
    truths = [np.array([statistics.median(r) for r in d["ratio_to_default"].values()]) for d in detail]

    def within(truth: np.ndarray, n: int) -> bool:
        run = rng.normal(0, sd / np.sqrt(2), (n, len(truth) + 1))  # a ratio's SD is sqrt(2) runs'; the
        reference = np.median(truth * np.exp(run[:, 1:] - run[:, :1]), axis=0)  # default's run is shared
        return bool(reference[truth.argmax()] >= (1 - ACCURATE) * reference.max())

    accuracy = {n: 100 * float(np.mean([within(t, n) for _ in range(draws) for t in truths]))
                for n in sorted({rounds, 5, 9})}  # fmt: skip
    return {"round_sd_ln_pct": 100 * sd, "perfect_picker_accuracy_pct": accuracy}


def confirm(
    name: str, rows: list[dict[str, Any]], per_workload: list[dict[str, Any]], items: list[dict[str, Any]],
    args: argparse.Namespace,
) -> dict[str, Any]:  # fmt: skip
    """Confirms the workloads of one scored set (``name``: test, fresh or holdout; its ``rows`` and ``items``,
    the picks of ``per_workload``) and scores it; the runs go to ``--work``/confirm-NAME."""
    mixes = {mix_key(parse_mix(mix).to_dict()): mix for mix in {i["mix"] for i in items}}
    table = test_table(rows)
    plan = [it for w in per_workload
            for it in confirm_items(table[mix_key(w["mix"])], w, mixes[mix_key(w["mix"])], args.confirm)]  # fmt: skip
    return confirmed_scores(
        collect(plan, args.work / f"confirm-{name}", args, confirmation=True), per_workload
    )


def evaluate(
    train: Examples,
    test: list[dict[str, Any]],
    validation: int,
    seed: int,
    dann_epochs: int = 150,
    fresh: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every method on the same test workloads; the diagram's variant chosen on the validation workloads.
    ``fresh``: runs of further workloads, collected after the variants were designed, scored the same way
    (``fresh`` in the result) with the variant already chosen."""
    table = test_table(test)
    entries = [table[k] for k in sorted(table)]
    np.random.default_rng(seed).shuffle(entries)  # validation and test both span every kind of workload
    val, tst = entries[:validation], entries[validation:]
    variants = {
        name: (model, score([(model.recommend(e["mix"])[0], e) for e in val]) if val else None)
        for name, model in fit_variants(train).items()
    }
    chosen = min(variants, key=lambda v: _validation_loss(variants[v][1]))
    diagram = variants[chosen][0]
    bins, weights, scale = diagram.meta["value_bins"], diagram.meta["weights"], diagram.value_scale
    structure = diagram.meta["variant"]
    pickers, predictors = method_pickers(train, diagram, seed, dann_epochs)
    # the chosen settings with the thesis's structure, for the fresh workloads
    thesis = variants[variant_name(bins, weights, scale, VARIANTS[0])][0]
    methods = score_with_ranking(pickers, predictors, tst)
    per_workload = picks_per_workload(pickers, tst)
    curve = []
    rng = np.random.default_rng(seed)
    for fraction in (0.1, 0.2, 0.4, 0.6, 0.8, 1.0):
        runs = []
        for _ in range(1 if fraction == 1.0 else 3):
            idx = rng.choice(len(train), max(20, int(fraction * len(train))), replace=False)
            model = fit_diagram(train.subset(np.sort(idx)), berkeleydb_structure(variant=structure),
                                value_bins=bins, weights=weights, value_scale=scale)  # fmt: skip
            runs.append(score([(model.recommend(e["mix"])[0], e) for e in tst]))
        curve.append({"fraction": fraction, "examples": max(20, int(fraction * len(train))),
                      "accuracy_pct": statistics.fmean(r["accuracy_pct"] for r in runs),
                      "mean_slowdown_pct": statistics.fmean(r["mean_slowdown_pct"] for r in runs)})  # fmt: skip
    fresh_entries = [e for _, e in sorted(test_table(fresh).items())] if fresh else []
    fresh_scores = {**score_methods(pickers, fresh_entries),
                    "influence_diagram_thesis_structure": score([(thesis.recommend(e["mix"])[0], e) for e in fresh_entries])} if fresh_entries else None  # fmt: skip
    return {
        "methods": methods,
        "fresh": fresh_scores,
        "fresh_per_workload": picks_per_workload(pickers, fresh_entries),
        "validation": {name: v[1] for name, v in variants.items()},
        "variants_on_test": {
            name: score([(v[0].recommend(e["mix"])[0], e) for e in tst]) for name, v in variants.items()
        },
        "value_bins": bins,
        "weights_fit": weights,
        "value_scale": scale,
        "structure": structure,
        "value_scale_cv_r2": value_scale_fit(train),
        "bins": diagram.meta.get("bins"),
        "weights": diagram.weights,
        "learning_curve": curve,
        "per_workload": per_workload,
        "measurement": measurement_quality(test, tst),
        "sizes": {
            "train_runs": len(train),
            "validation_workloads": len(val),
            "test_workloads": len(tst),
            "test_runs": len(tst) * len(COMBOS),
        },  # fmt: skip
    }


def workload_key(row: dict[str, Any]) -> tuple[float, ...]:
    return mix_key(row["workload"]["mix"])


# value-node bins the cross-validation chooses among (with more runs, finer bins may pay)
HOLDOUT_BINS = (10, 20, 40)


def evaluate_holdout(
    design: list[dict[str, Any]],
    grids: list[dict[str, Any]],
    holdout: list[dict[str, Any]],
    seed: int,
    folds: int = 5,
    dann_epochs: int = 150,
    structures: tuple[str, ...] = VARIANTS,
    value_bins: tuple[int, ...] = HOLDOUT_BINS,
    first_choice: str | None = None,
) -> dict[str, Any]:
    """The clean protocol: every run recorded before the holdout workloads were measured is design data, and
    the holdout workloads are scored once, by models that nothing about them chose.

    ``design``: the random-workload runs; ``grids``: the test and fresh workloads' runs under all 32
    combinations. The diagram's variant (``fit_variants`` over ``structures`` and ``value_bins``) is chosen by
    ``folds``-fold cross-validation over the grid workloads: each fold learns from the random runs and the
    other folds' grids and is scored on its own workloads' grids. The chosen variant and every other method are
    then learned from all the design data and scored on ``holdout`` (its workloads x 32 combinations), with
    diagrams for comparison, learned from the same data: the chosen settings with the thesis's structure, with
    the ``conflicts`` structure (``influence_diagram_conflicts``: a picker, so that its picks are confirmed too;
    the diagram itself when that is the chosen structure) and ``first_choice`` (the variant the first protocol
    chose on its validation workloads)."""
    table = test_table(grids)
    keys = sorted(table)
    np.random.default_rng(seed).shuffle(keys)
    picks: dict[str, list[tuple[dict[str, str], dict[str, Any]]]] = defaultdict(list)
    for part in np.array_split(np.arange(len(keys)), folds):
        held = {keys[i] for i in part}
        train = examples_from_rows(design + [r for r in grids if workload_key(r) not in held])
        fixed = best_fixed_combination(train)
        for name, model in fit_variants(train, structures, value_bins).items():
            picks[name] += [(model.recommend(table[k]["mix"])[0], table[k]) for k in held]
        picks["best_fixed"] += [(fixed, table[k]) for k in held]
    cross_validation = {name: score(p) for name, p in picks.items()}
    chosen = min((n for n in cross_validation if n != "best_fixed"), key=lambda n: _validation_loss(cross_validation[n]))  # fmt: skip
    train = examples_from_rows(design + grids)
    variants = fit_variants(train, structures, value_bins)
    diagram = variants[chosen]
    bins, weights, scale = diagram.meta["value_bins"], diagram.meta["weights"], diagram.value_scale
    thesis = variants[variant_name(bins, weights, scale, VARIANTS[0])]
    pickers, predictors = method_pickers(train, diagram, seed, dann_epochs)
    if (conflicts := variants.get(variant_name(bins, weights, scale, "conflicts"))) is not None:
        pickers["influence_diagram_conflicts"] = lambda m: conflicts.recommend(m)[0]  # for comparison
    entries = [e for _, e in sorted(test_table(holdout).items())]
    methods = score_with_ranking(pickers, predictors, entries)
    compared = {"influence_diagram_thesis_structure": thesis}
    if first_choice:
        compared["influence_diagram_first_choice"] = variants[first_choice]
    for name, model in compared.items():
        methods[name] = score([(model.recommend(e["mix"])[0], e) for e in entries])
    return {
        "chosen": chosen,
        "cross_validation": cross_validation,
        "methods": methods,
        "per_workload": picks_per_workload(pickers, entries),
        "measurement": measurement_quality(holdout, entries),
        "sizes": {
            "design_runs": len(train),
            "grid_workloads": len(table),
            "folds": folds,
            "holdout_workloads": len(entries),
            "holdout_runs": len(entries) * len(COMBOS),
        },  # fmt: skip
    }


def postgres(args: argparse.Namespace) -> dict[str, Any]:
    """The PostgreSQL diagram against the default, PGTune and the cost model's pick on held-out workloads."""
    import importlib.util

    from raytune.backends import config_key
    from raytune.corpus import Corpus
    from raytune.hardware import detect_hardware
    from raytune.home import ensure_home
    from raytune.optimizers import rule_config
    from raytune.records import Objective
    from raytune.slots import resolve_shape
    from raytune.tune import SearchSpec, WorkloadSpec, run_search
    from raytune.workloads import make_workload
    from trainables.dann import CostModel, describe_workload
    from trainables.influence._postgres import fit_postgres_diagram, recommend_postgres
    from trainables.recommender._labels import batched_best

    spec_ = importlib.util.spec_from_file_location("bench_recommend", HERE / "recommend.py")
    rec = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(rec)
    shape = resolve_shape(detect_hardware(), 2)
    domain = f"postgres/{shape.cpus}cpu-{shape.memory_bytes / 1024**3:.1f}g"
    model, cost = fit_postgres_diagram(Corpus(args.corpus), domain), CostModel.load(None)
    settings = rec.SETTINGS
    objective = Objective.for_workload(True, "", timeout_s=settings.timeout_s)
    rules = rule_config("postgres", shape.hardware(), "olap")
    per_workload = []
    for i, (name, benchmark, file) in enumerate(rec.held_out(args.workloads, args.tpcds)):

        def evaluated(name: str = name, benchmark: str = benchmark, file: Path | None = file, i: int = i) -> dict[str, Any]:  # fmt: skip
            wl = WorkloadSpec(benchmark, args.pg_sf, str(file) if file else None)
            workload = make_workload(
                benchmark, sf=args.pg_sf, cache_dir=ensure_home() / "data", queries_file=file
            )
            w = describe_workload("postgres", workload, shape, explain=True)
            states, config = recommend_postgres(model, w)
            methods = {
                "influence": config,
                "surrogate": batched_best(cost.predict, w, seed=i)[0],
                "rules": rules,
            }
            distinct = list({config_key(c): c for c in methods.values()}.values())
            where = args.work / f"postgres-{name}"
            shutil.rmtree(where, ignore_errors=True)
            spec = SearchSpec(results_dir=where, engine="postgres", workload=wl, optimizer="configs",
                              configs=distinct, trials=len(distinct), instances=2, settings=settings,
                              confirm=len(distinct), confirm_rounds=args.rounds)  # fmt: skip
            verdict = rec.judge(run_search(spec).rows(), methods, objective)
            return {"workload": name, "levels": states, "methods": verdict}

        part = rec.cached(args.work / f"postgres-{name}.json", evaluated)
        per_workload.append(part)
        line = "  ".join(f"{m} {v.get('ratio_to_default', float('nan')):.3f}{'*' if v.get('significant') else ''}"
                         for m, v in part["methods"].items())  # fmt: skip
        print(f"{name}: {line}", file=sys.stderr)
    summary = rec.summarise(per_workload, ("influence", "surrogate", "rules"))
    return {"slot": shape.describe(), "domain": domain, "sf": args.pg_sf, "rounds": args.rounds,
            "weights": model.weights, "bins": model.meta.get("bins"), "training_examples": model.meta.get("examples"),
            "summary": summary, "workloads": per_workload}  # fmt: skip


def write_result(out: Path, result: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"-> {out}", file=sys.stderr)


def read_picks(path: Path, scale: dict[str, Any], p: argparse.ArgumentParser) -> list[dict[str, Any]]:
    """The per-workload picks of a results file of the same scale (``p.error`` otherwise)."""
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        p.error(f"--picks {path}: cannot read it as a results file ({exc})")
    if not isinstance(result, dict) or "per_workload" not in result or result.get("scale") != scale:
        p.error(
            f"--picks {path}: not a Berkeley DB results file of this scale (--sf, --duration, --instances)"
        )
    return result["per_workload"]


def design_name(args: argparse.Namespace) -> str:
    """The measurement design, which names the directory of its runs: runs of different designs never mix."""
    return f"sf{args.sf:g}-{args.duration}s-{args.instances}x-native"  # earlier designs: the Python client


def _header(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "command": " ".join(["python", "bench/influence.py", *sys.argv[1:]]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"platform": platform.platform()},
        "scale": {"items": int(24_500 * args.sf), "duration_limit_s": args.duration, "instances": args.instances,
                  "client": "native, 1 CPU",
                  "cache_bytes_per_item": 86, "sample_s": 2, "window": 5},
    }  # fmt: skip


def measure_repeatability(args: argparse.Namespace, picks: dict[str, list[dict[str, Any]]], t0: float) -> int:
    """The first ``--repeatability`` test workloads x 32 combinations, measured twice (the first pass is the
    benchmark's own test runs, kept under ``--work``/test for a later full run)."""
    items = test_items(args.repeatability, training_mixes(args))
    first = collect(items, args.work / "test", args)
    second = collect(items, args.work / "repeat", args)
    result = {**_header(args), **repeatability(first, second)}
    result["picks_rescored"] = {
        f: rescore_picks(per_workload, first, second) for f, per_workload in picks.items()
    }
    for f, rescored in result["picks_rescored"].items():
        print(f"{f}: picks on {rescored['workloads']} of the {args.repeatability} workloads measured twice", file=sys.stderr)  # fmt: skip
    result["wall_s"] = time.perf_counter() - t0
    oracle = result["oracle"] or {}
    print(f"run to run: median |ln ratio| {result['abs_log_ratio_pct_median']:.1f}%, "
          f"perfect picker on single runs: accuracy {oracle.get('accuracy_pct', float('nan')):.0f}%", file=sys.stderr)  # fmt: skip
    write_result(args.out or HERE / "results" / "influence-repeatability.json", result)
    return 0


def _confirm_sets(text: str) -> tuple[str, ...]:
    sets = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in sets if s not in ("holdout", "fresh", "test")]
    if unknown or not sets:
        raise argparse.ArgumentTypeError(f"unknown set {unknown[0] if unknown else text!r}; use holdout, fresh or test, comma-separated")  # fmt: skip
    return sets


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--postgres", action="store_true", help="the generic part: the PostgreSQL diagram")
    p.add_argument("--workloads", type=int, default=6, help="--postgres: held-out TPC-H workloads")
    p.add_argument("--tpcds", action="store_true", help="--postgres: also the standard TPC-DS queries")
    p.add_argument("--pg-sf", type=float, default=0.1, help="--postgres: scale factor (0.1, the corpus's)")
    p.add_argument("--rounds", type=int, default=3, help="--postgres: confirmation rounds")
    p.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus")
    p.add_argument(
        "--train", type=int, default=300, help="training runs: random workload x random combination"
    )
    p.add_argument("--test", type=int, default=24, help="test workloads, each run under all 32 combinations")
    p.add_argument("--validation", type=int, default=4, help="test workloads used to choose the variant")
    p.add_argument("--fresh", type=int, default=0, metavar="K",
                   help="K further workloads x 32 combinations, scored apart with the variant already chosen")  # fmt: skip
    p.add_argument("--holdout", type=int, default=0, metavar="K",
                   help="K workloads after the fresh ones x 32 combinations, scored once by models learned from "
                        "every earlier run, the variant chosen by cross-validation (needs --fresh)")  # fmt: skip
    p.add_argument("--holdout-seen", type=int, default=0, metavar="N",
                   help="the first N holdout workloads were scored before: they join the design data and only "
                        "the later ones are scored (a new clean holdout after a change to the methods)")  # fmt: skip
    p.add_argument("--sf", type=float, default=0.2, help="db_perf scale: 24,500 x sf items (0.2: 4,900)")
    p.add_argument(
        "--duration", type=int, default=20, help="longest run in seconds (a run stops at steady state)"
    )
    p.add_argument("--instances", type=int, default=1,
                   help="runs at a time (1: two co-running runs on a 2-core machine measure their contention)")  # fmt: skip
    p.add_argument("--repeatability", type=int, default=0, metavar="K",
                   help="only measure the first K test workloads twice (results: influence-repeatability.json)")  # fmt: skip
    p.add_argument("--picks", type=Path, action="append", default=[], metavar="FILE",
                   help="--repeatability: also score the picks of this results file (the same scale) against each pass")  # fmt: skip
    p.add_argument("--confirm", type=int, default=0, metavar="R",
                   help="re-measure each scored workload's fastest combinations and every pick in R rounds "
                        "interleaved with the default, and score against those (confirmed in the result)")  # fmt: skip
    p.add_argument("--confirm-sets", type=_confirm_sets, default=("holdout", "fresh"), metavar="SETS",
                   help="--confirm: which workloads, comma-separated among holdout, fresh, test (holdout,fresh)")  # fmt: skip
    p.add_argument("--batch", type=int, default=64, help="runs per Ray Tune stage")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path,
                   help="where the runs are kept (data/bdb-runs/DESIGN, e.g. sf0.2-20s-1x-native; --postgres: results/bench-influence)")  # fmt: skip
    p.add_argument(
        "--out", type=Path, help="results file (bench/results/influence[-postgres|-repeatability].json)"
    )
    args = p.parse_args()
    if args.picks and (not args.repeatability or args.postgres):
        p.error("--picks goes with --repeatability K (Berkeley DB): e.g. --repeatability 6 --picks FILE")
    picks = {str(f): read_picks(f, _header(args)["scale"], p) for f in args.picks}
    t0 = time.perf_counter()
    args.work = args.work or (
        ROOT / "results" / "bench-influence"
        if args.postgres
        else ROOT / "data" / "bdb-runs" / design_name(args)
    )
    if args.postgres:
        result = {"command": " ".join(["python", "bench/influence.py", *sys.argv[1:]]),
                  "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), **postgres(args), "wall_s": time.perf_counter() - t0}  # fmt: skip
        write_result(args.out or HERE / "results" / "influence-postgres.json", result)
        return 0
    if args.repeatability:
        return measure_repeatability(args, picks, t0)
    if args.confirm < 0:
        p.error(f"--confirm {args.confirm}: give a number of rounds, 0 (none) or more, e.g. --confirm 3")
    if args.holdout_seen < 0 or (args.holdout_seen and args.holdout_seen >= args.holdout):
        p.error(f"--holdout-seen {args.holdout_seen}: needs --holdout K with K > N >= 0 (K - N workloads are scored), e.g. --holdout 12 --holdout-seen 6")  # fmt: skip
    if args.holdout and not args.fresh:
        p.error("--holdout K needs --fresh K (the holdout workloads are drawn after the fresh ones): e.g. --fresh 6 --holdout 6")  # fmt: skip
    train_rows = collect(training_design(args.train, args.seed), args.work / "train", args)
    train = examples_from_rows(train_rows)
    test_rows = collect(test_items(args.test, training_mixes(args)), args.work / "test", args)
    fresh_items = later_test_items(args.test, args.fresh, args)
    fresh_rows = collect(fresh_items, args.work / "fresh", args) if args.fresh else None
    seen_items, holdout_items = holdout_plan(args)
    seen_rows = collect(seen_items, args.work / "holdout", args) if seen_items else []
    holdout_rows = collect(holdout_items, args.work / "holdout", args) if args.holdout else None
    result = {**_header(args), **evaluate(train, test_rows, args.validation, args.seed, fresh=fresh_rows)}
    first_choice = variant_name(result["value_bins"], result["weights_fit"], result["value_scale"], result["structure"])  # fmt: skip
    result["holdout"] = (
        evaluate_holdout(
            train_rows, test_rows + fresh_rows + seen_rows, holdout_rows, args.seed, first_choice=first_choice
        )
        if holdout_rows and fresh_rows
        else None
    )
    if result["holdout"]:
        result["holdout"]["sizes"]["holdout_seen_as_design"] = args.holdout_seen
    scored = {"holdout": (holdout_rows, (result["holdout"] or {}).get("per_workload"), holdout_items),
              "fresh": (fresh_rows, result["fresh_per_workload"], fresh_items),
              "test": (test_rows, result["per_workload"], test_items(args.test, training_mixes(args)))}  # fmt: skip
    result["confirmed"] = {
        name: confirm(name, *scored[name], args)
        for name in args.confirm_sets
        if args.confirm and scored[name][0]
    }
    result["wall_s"] = time.perf_counter() - t0
    failed = sum(r["status"] != "SUCCEEDED" for r in train_rows + test_rows + (fresh_rows or []) + (holdout_rows or []))  # fmt: skip
    result["failed_runs"] = failed
    for name, m in result["methods"].items():
        print(f"{name:18s} accuracy {m['accuracy_pct']:5.1f}%  mean slowdown {m['mean_slowdown_pct']:5.2f}%  "
              f"avg non-optimal {m['avg_slowdown_nonoptimal_pct']:5.2f}%", file=sys.stderr)  # fmt: skip
    for name, m in (result["fresh"] or {}).items():
        print(f"fresh: {name:18s} accuracy {m['accuracy_pct']:5.1f}%  mean slowdown {m['mean_slowdown_pct']:5.2f}%",
              file=sys.stderr)  # fmt: skip
    for name, confirmed in result["confirmed"].items():
        for method, m in confirmed["methods"].items():
            print(f"confirmed {name}: {method:18s} accuracy {m['accuracy_pct']:5.1f}%  "
                  f"mean slowdown {m['mean_slowdown_pct']:5.2f}%", file=sys.stderr)  # fmt: skip
        if (ceiling := confirmed["ceiling"])["perfect_picker_accuracy_pct"]:
            print(f"confirmed {name}: a perfect picker would score {ceiling['perfect_picker_accuracy_pct'][confirmed['rounds']]:.0f}% "
                  f"(ln ratios vary {ceiling['round_sd_ln_pct']:.1f}% from round to round)", file=sys.stderr)  # fmt: skip
    if result["holdout"]:
        print(f"holdout: chosen by cross-validation: {result['holdout']['chosen']}", file=sys.stderr)
        for name, m in result["holdout"]["methods"].items():
            print(f"holdout: {name:18s} accuracy {m['accuracy_pct']:5.1f}%  mean slowdown {m['mean_slowdown_pct']:5.2f}%",
                  file=sys.stderr)  # fmt: skip
    write_result(args.out or HERE / "results" / "influence.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
