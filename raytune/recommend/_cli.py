"""``python -m raytune.recommend --engine postgres --queries FILE``: the recommender's configuration for a
workload, as ready-to-apply statements, with the cost model's predicted gain.

From the SQL alone by default (no server: a recommendation in well under a second once loaded). ``--measure``
first runs the workload once under the default on a real server of the slot's shape (plans, internal metrics
and latency sharpen the recommendation); ``--steps K`` (K > 1) measures each recommendation and feeds it back,
as E2ETune's multi-step mode does. ``--json`` prints ``{"config", "predicted_gain_pct", "statements", ...}``;
its ``config`` is what ``python -m raytune.trial --config`` takes. Exit 0, or 2 with one line for bad input.

``--engine berkeleydb --model DIR --workload-stats FILE``: the influence diagram's knobs (page size, min keys,
DB_RMW, deadlock policy) for a workload's observed characteristics (a JSON file of the eight db_perf
characteristics), with the diagram's predicted throughput gain over the default settings. No diagram ships:
learn one from Berkeley DB runs (``python -m trainables.train influence``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from raytune.errors import KnobrayError
from raytune.trial._args import configure_logging


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m raytune.recommend", description=__doc__.splitlines()[0])
    p.add_argument("--engine", default="postgres", help="postgres (default), mariadb or berkeleydb")
    p.add_argument("--queries", type=Path, help="the workload: a .sql or E2ETune .wg file")
    p.add_argument("--workload-stats", type=Path,
                   help="berkeleydb: the workload's characteristics, a JSON file (python -m raytune.trial --mix format)")  # fmt: skip
    p.add_argument("--model", type=Path,
                   help="recommender directory (default: the one shipped); berkeleydb: an influence diagram (required)")  # fmt: skip
    p.add_argument("--cost-model", type=Path, help="cost model that ranks the candidates (default: shipped)")
    p.add_argument("--slot-cpus", type=int, help="CPUs of the server to tune (default: this machine's)")
    p.add_argument("--slot-memory", help="memory of the server to tune, e.g. 8GB (default: this machine's)")
    p.add_argument("--candidates", type=int, default=8, help="configurations sampled and ranked (8)")
    p.add_argument("--top", type=int, default=1, help="configurations shown (1)")
    p.add_argument("--measure", action="store_true", help="run the workload once under the default first")
    p.add_argument("--steps", type=int, default=1, help="multi-step: measure and recommend K times (1)")
    p.add_argument("--workload", default="tpch", help="--measure: the data the queries run on (tpch, tpcds)")
    p.add_argument("--sf", type=float, default=0.1, help="--measure: scale factor (0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _shape(args: argparse.Namespace) -> Any:
    from raytune.hardware import detect_hardware
    from raytune.slots import SlotShape, parse_memory

    node = detect_hardware()
    memory = parse_memory(args.slot_memory) if args.slot_memory else node.ram_bytes
    return SlotShape(args.slot_cpus or node.cores, memory)


def _check(args: argparse.Namespace) -> None:
    from raytune.engines import ENGINES

    if args.engine not in ENGINES:
        raise KnobrayError(f"unknown engine {args.engine!r}; use one of: {', '.join(ENGINES)}")
    if args.engine == "berkeleydb":
        if args.workload_stats is None:
            raise KnobrayError("--engine berkeleydb needs --workload-stats FILE (the workload's eight db_perf "
                               "characteristics as JSON, the format of python -m raytune.trial --mix FILE)")  # fmt: skip
        if args.model is None:
            raise KnobrayError("--engine berkeleydb needs --model DIR (an influence diagram; none ships: learn one "
                               "with python -m trainables.train influence --records DIR --out DIR)")  # fmt: skip
    elif args.queries is None:
        raise KnobrayError(f"--engine {args.engine} needs --queries FILE (the workload's SQL)")
    elif args.workload_stats is not None:
        raise KnobrayError("--workload-stats is for --engine berkeleydb; pass --queries FILE")
    if args.candidates < 1 or args.top < 1 or args.steps < 1:
        raise KnobrayError("--candidates, --top and --steps must be at least 1")
    if args.slot_cpus is not None and args.slot_cpus < 1:
        raise KnobrayError("--slot-cpus must be at least 1")


def _server_workload(args: argparse.Namespace) -> Any:
    from raytune.home import ensure_home
    from raytune.workloads import make_workload

    workload = make_workload(
        args.workload, sf=args.sf, cache_dir=ensure_home() / "data", queries_file=args.queries
    )
    workload.check(args.engine)
    return workload


def _measurer(args: argparse.Namespace, workload: Any, shape: Any, default_latency: float) -> Any:
    """``config -> (mean latency over the default's, metrics per second)`` on one real server run each."""
    from raytune.trial import MeasureSettings, TrialRunner

    settings = MeasureSettings(repeats=1, timeout_s=60)

    def measure(config: dict[str, Any]) -> tuple[float, dict[str, float]]:
        with TrialRunner(args.engine, workload, settings=settings, hardware=shape.hardware()) as runner:
            record = runner.run(config)
        if record.status.name != "SUCCEEDED" or not record.summary.get("mean_latency_s"):
            return 10.0, {}  # a failed recommendation: far worse than the default, never kept
        run_s = float(record.timings.get("run_s") or 0.0)
        metrics = {
            k: v / run_s for k, v in record.metrics.items() if run_s > 0 and isinstance(v, int | float)
        }
        return float(record.summary["mean_latency_s"]) / default_latency, metrics

    return measure


def recommend_influence(args: argparse.Namespace) -> dict[str, Any]:
    """Berkeley DB: the influence diagram's decisions for the workload statistics, as ``--json`` prints them."""
    from raytune.engines import engine_class
    from raytune.knobs import load_catalog
    from raytune.workloads import TxnMix
    from trainables.influence import InfluenceModel, knob_config

    mix = TxnMix.load(args.workload_stats)
    model = InfluenceModel.load(args.model)
    t0 = time.perf_counter()
    states, utility = model.recommend(mix.to_dict())
    default = {d: model.structure[d].states[0] for d in model.structure.decision_order}
    gain = 100 * (math.exp(utility - model.expected_utility(mix.to_dict(), default)) - 1)
    seconds = time.perf_counter() - t0
    config = knob_config(states)
    cls, catalog = engine_class(args.engine), load_catalog(args.engine)
    return {
        "config": config, "predicted_gain_pct": gain, "statements": cls.config_sql(config, catalog),
        "config_file": cls.config_file_text(config, catalog), "alternatives": [], "steps": [],
        "engine": args.engine, "slot": "embedded", "inputs": "workload statistics",
        "queries": str(args.workload_stats), "model": model.meta.get("version", str(args.model)),
        "cost_model": None, "predictor": "the influence diagram", "seconds": seconds,
    }  # fmt: skip


def recommend(args: argparse.Namespace) -> dict[str, Any]:
    """The recommendation as the JSON document ``--json`` prints."""
    _check(args)  # before the models' imports (PyTorch): bad input fails in a second
    if args.engine == "berkeleydb":
        return recommend_influence(args)
    from raytune.engines import engine_class
    from raytune.knobs import load_catalog
    from trainables.dann import CostModel, describe_workload
    from trainables.recommender import Recommender, sql_workload

    shape = _shape(args)
    w = sql_workload(args.queries, args.engine, shape.cpus, shape.memory_bytes)  # a bad file fails here
    model = Recommender.load(args.model)
    cost_model = CostModel.load(args.cost_model)
    model.recommend(w, cost_model=cost_model, candidates=1)  # loads the text encoders: not part of the timing
    if args.measure or args.steps > 1:
        workload = _server_workload(args)
        w = describe_workload(args.engine, workload, shape, explain=True)
        if w.default_latency_s <= 0:
            raise KnobrayError(
                "the workload failed under the default configuration; check the queries and data"
            )
    t0 = time.perf_counter()
    history = []
    if args.steps > 1:
        measure = _measurer(args, workload, shape, w.default_latency_s)
        history = model.recommend_steps(
            w, measure, steps=args.steps, cost_model=cost_model, candidates=args.candidates, seed=args.seed
        )
        picked = min(history, key=lambda h: h.measured_ratio).recommendation
        ranked = [picked]
    else:
        ranked = model.recommend(
            w, cost_model=cost_model, candidates=args.candidates, top=args.top, seed=args.seed
        )
        picked = ranked[0]
    seconds = time.perf_counter() - t0
    cls, catalog = engine_class(args.engine), load_catalog(args.engine)
    return {
        "config": picked.config,
        "predicted_gain_pct": picked.predicted_gain_pct,
        "statements": cls.config_sql(picked.config, catalog),
        "config_file": cls.config_file_text(picked.config, catalog),
        "alternatives": [
            {"config": r.config, "predicted_gain_pct": r.predicted_gain_pct} for r in ranked[1:]
        ],
        "steps": [{"config": h.recommendation.config, "measured_ratio": h.measured_ratio} for h in history],
        "engine": args.engine,
        "slot": shape.describe(),
        "inputs": "measured under the default" if (args.measure or args.steps > 1) else "SQL only",
        "queries": str(args.queries),
        "model": model.version,
        "cost_model": cost_model.version,
        "seconds": seconds,
    }


def _print_text(doc: dict[str, Any]) -> None:
    gain = doc["predicted_gain_pct"]
    verdict = f"{gain:.1f}% faster" if gain >= 0 else f"{-gain:.1f}% slower"
    print(
        f"knobray recommend: {doc['engine']} / {doc['queries']} / slot {doc['slot']} / inputs: {doc['inputs']}"
    )
    for i, step in enumerate(doc["steps"], 1):
        print(f"  step {i}: measured {step['measured_ratio']:.3f}x the default")
    print(
        f"recommended (predicted {verdict} than the default by {doc.get('predictor') or 'cost model ' + doc['cost_model']}; "
        "not measured):"
    )
    for statement in doc["statements"]:
        print(f"  {statement}")
    for alt in doc["alternatives"]:
        print(f"alternative (predicted {alt['predicted_gain_pct']:.1f}% faster): {json.dumps(alt['config'])}")
    print(f"model {doc['model']}; recommended in {1000 * doc['seconds']:.0f} ms")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        doc = recommend(args)
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({k: v for k, v in doc.items() if k != "config_file"}, indent=1, default=str))
    else:
        _print_text(doc)
    return 0
