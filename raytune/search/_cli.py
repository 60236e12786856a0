"""Command line of ``python -m raytune.search``: find the best configuration for a workload."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from raytune.errors import KnobrayError

EXIT_BAD_INPUT = 2
BACKENDS = ("pool", "tabulated", "surrogate")
_BACKEND_NOTE = {"tabulated": " (replayed records)", "surrogate": " (predicted by the cost model)"}


def build_parser() -> argparse.ArgumentParser:
    from raytune.trial import MeasureSettings, add_measure_arguments, add_workload_arguments

    p = argparse.ArgumentParser(
        prog="python -m raytune.search",
        description="Search the knob space of a real database for a workload with Ray Tune. With no arguments: "
        "embedded PostgreSQL, TPC-H SF 0.1, HEBO, 2 instances, 20 trials.",
    )
    add_workload_arguments(p, sf=0.1)
    add_measure_arguments(p, MeasureSettings(repeats=2, timeout_s=30.0, duration_s=20, warmup_s=5, clients=4))
    p.add_argument(
        "--knobs",
        type=Path,
        help="knob file (knobray or E2ETune format; default: the curated set), or top:K[:RANKING] for the K most "
        "important knobs of a ranking (python -m raytune.importance; default: the one shipped)",
    )
    p.add_argument("--optimizer", default="hebo", help="hebo (default), smac, tpe, random, configs")
    p.add_argument("--configs", type=Path, help="optimizer configs: JSON file with a list of configurations")
    p.add_argument("--trials", type=int, default=20, help="trials in all, baselines included (default 20)")
    p.add_argument("--instances", type=int, default=2, help="database instances on this machine (default 2)")
    p.add_argument(
        "--slot-cpus",
        type=int,
        help="CPUs of each instance's slot (default: the node's CPUs divided evenly among its instances)",
    )
    p.add_argument(
        "--slot-memory",
        help="memory of each instance's slot, e.g. 8GB (default: the node's RAM divided evenly)",
    )
    p.add_argument(
        "--confirm",
        type=int,
        help="re-measure this many top configs against the default after the search (default 3; 0: off; "
        "the surrogate backend's default is 0: its numbers are predictions)",
    )
    p.add_argument("--confirm-rounds", type=int, default=3, help="confirmation rounds per config (default 3)")
    p.add_argument("--time-budget", type=float, help="stop starting trials after this many seconds")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--results", type=Path, help="results directory (default results/search-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted search in --results")
    p.add_argument("--address", help="an existing Ray cluster (e.g. one from ray up cluster.yaml)")
    p.add_argument(
        "--no-baselines", action="store_true", help="do not evaluate the default and rule configs first"
    )
    p.add_argument("--dashboard", action="store_true", help="start the Ray dashboard (local Ray only)")
    p.add_argument(
        "--backend",
        default="pool",
        choices=BACKENDS,
        help="pool: real servers on Ray (default); tabulated: replay recorded trials (--records); surrogate: "
        "the cost model's predictions (--model)",
    )
    p.add_argument(
        "--model", type=Path, help="surrogate backend: a cost model directory (default: the one shipped)"
    )
    p.add_argument(
        "--no-explain",
        action="store_true",
        help="surrogate backend: predict from the SQL alone (no run of the workload under the default)",
    )
    p.add_argument(
        "--warm-start",
        metavar="MODEL_DIR|URL",
        help="a recommender directory, or a knobray service URL (python -m serve): its top configs for the "
        "workload are the first trials after the baselines",
    )
    p.add_argument(
        "--warm-start-configs",
        type=int,
        default=3,
        help="how many recommended configs warm-start (default 3)",
    )
    p.add_argument(
        "--records",
        type=Path,
        action="append",
        help="tabulated backend: a search's results directory or a corpus to replay (repeatable)",
    )
    return p


def _load_configs(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    try:
        configs = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise KnobrayError(
            f"configs file {path} does not exist; pass a JSON list of configurations"
        ) from None
    except json.JSONDecodeError as exc:
        raise KnobrayError(
            f"configs file {path} is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise KnobrayError(f"configs file {path} must hold a JSON list of knob -> value objects")
    return configs


def _check_inputs(args: argparse.Namespace) -> tuple[Any, list[dict[str, Any]]]:
    """Validates everything that can be checked without Ray or a server: (the SearchSpec, the recorded trials a
    tabulated backend replays)."""
    from raytune.knobs import load_knob_file
    from raytune.optimizers import OPTIMIZERS
    from raytune.slots import parse_memory
    from raytune.trial import OBJECTIVES, objective_for, settings_from_args, workload_from_args

    if args.optimizer not in OPTIMIZERS:
        raise KnobrayError(f"unknown optimizer {args.optimizer!r}; use one of: {', '.join(OPTIMIZERS)}")
    if args.objective and args.objective not in OBJECTIVES:
        raise KnobrayError(f"unknown objective {args.objective!r}; use one of: {', '.join(OBJECTIVES)}")
    if args.optimizer == "configs" and args.configs is None:
        raise KnobrayError("optimizer configs needs --configs FILE with a JSON list of configurations")
    if args.trials < 1 or args.instances < 1:
        raise KnobrayError("--trials and --instances must be at least 1")
    if args.warm_start is not None and args.warm_start_configs < 1:
        raise KnobrayError("--warm-start-configs must be at least 1")
    if args.warm_start is not None and args.optimizer == "configs":
        raise KnobrayError("--warm-start feeds an optimizer; it cannot go with --optimizer configs")
    if str(args.warm_start).startswith(("http://", "https://")):
        from serve._client import check_reachable

        check_reachable(args.warm_start)  # before Ray or a server starts
    if args.confirm is None:
        args.confirm = 0 if args.backend == "surrogate" else 3
    if args.confirm < 0 or args.confirm_rounds < 1:
        raise KnobrayError("--confirm must be 0 or more and --confirm-rounds at least 1")
    if args.resume and args.results is None:
        raise KnobrayError("--resume needs --results DIR of the search to continue")
    if args.resume and not (args.results / "ray").exists() and not (args.results / "trials.parquet").exists():
        raise KnobrayError(
            f"nothing to resume in {args.results}; run without --resume to start a search there"
        )
    if args.knobs is not None and str(args.knobs).startswith("top:"):
        from raytune.importance import top_knobs
        from raytune.knobs import write_knob_subset

        names = top_knobs(str(args.knobs), args.engine)
        where = (args.results or Path("results")) / f"knobs-top{len(names)}.json"
        args.knobs = write_knob_subset(args.engine, names, where)
    if args.knobs is not None:
        load_knob_file(args.knobs)
    workload = workload_from_args(args)
    if args.warm_start is not None and workload.kind.value != "olap":
        raise KnobrayError("the recommender tunes OLAP workloads; drop --warm-start for OLTP")
    settings = settings_from_args(args)
    objective = objective_for(workload, settings)
    results = args.results or Path("results") / time.strftime("search-%Y%m%d-%H%M%S")
    shape: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    if args.backend == "tabulated":
        from raytune.backends import load_rows, recorded_shape, select_rows

        if not args.records:
            raise KnobrayError("--backend tabulated needs --records DIR (a search's results or a corpus)")
        if args.address:
            raise KnobrayError("--backend tabulated runs in this process; drop --address")
        rows = select_rows(load_rows(args.records), args.engine, workload.describe(), objective.name)
        recorded = recorded_shape(rows)
        shape = {"slot_cpus": recorded.cpus, "slot_memory_bytes": recorded.memory_bytes}
    elif args.records:
        raise KnobrayError("--records is for --backend tabulated")
    if args.backend == "surrogate":
        if args.address:
            raise KnobrayError("--backend surrogate runs in this process; drop --address")
        if workload.kind.value != "olap":
            raise KnobrayError("the cost model predicts OLAP latency; use --backend pool for OLTP workloads")
    elif args.model is not None and args.warm_start is None:
        raise KnobrayError(
            "--model is for --backend surrogate (or the cost model ranking --warm-start's configs)"
        )
    from raytune.tune import SearchSpec, WorkloadSpec  # Ray Tune: imported once the quick checks pass

    spec = SearchSpec(
        results_dir=results,
        engine=args.engine,
        workload=WorkloadSpec(
            args.workload, args.sf, _abs(args.queries), _abs(args.schema), _abs(args.data), _mix(args.mix)
        ),
        workload_kind=workload.kind.value,
        knobs_file=args.knobs,
        optimizer=args.optimizer,
        trials=args.trials,
        instances=args.instances,
        time_budget_s=args.time_budget,
        seed=args.seed,
        baselines=not args.no_baselines,
        configs=_load_configs(args.configs),
        settings=settings,
        address=args.address,
        dashboard=args.dashboard,
        bin_dir=args.bin_dir,
        allow_unsafe=args.allow_unsafe,
        slot_cpus=shape.get("slot_cpus", args.slot_cpus),
        slot_memory_bytes=shape.get(
            "slot_memory_bytes", parse_memory(args.slot_memory) if args.slot_memory else None
        ),
        confirm=args.confirm,
        confirm_rounds=args.confirm_rounds,
        backend=args.backend,
    )
    from raytune.tune import check_results_dir, knob_space_for

    if not spec.address:
        knob_space_for(spec)  # a bad knob file or slot shape fails here, before Ray starts
    check_results_dir(results, resume=args.resume)  # here before Ray starts; run_search checks it again
    return spec, rows


def _surrogate(args: argparse.Namespace, spec: Any, shape: Any) -> Any:
    """The surrogate backend: the cost model and the workload as it sees it (one default run unless
    --no-explain)."""
    from raytune.backends import SurrogateBackend
    from raytune.home import ensure_home
    from raytune.workloads import make_workload
    from trainables.dann import CostModel, describe_workload

    model = CostModel.load(args.model)
    w = spec.workload
    workload = make_workload(
        w.name,
        sf=w.sf,
        cache_dir=ensure_home() / "data",
        queries_file=Path(w.queries_file) if w.queries_file else None,
    )
    described = describe_workload(spec.engine, workload, shape, explain=not args.no_explain)
    model.check(described)
    return SurrogateBackend(model, described, spec.engine, shape)


def _warm_start(args: argparse.Namespace, spec: Any, shape: Any) -> list[dict[str, Any]]:
    """The recommender's top configs for the search's workload (a resumed search: the ones it measured)."""
    from raytune.home import ensure_home
    from raytune.storage import TrialStore
    from raytune.tune import knob_space_for
    from raytune.tune._run import WARM_START
    from raytune.workloads import make_workload
    from trainables.dann import CostModel, describe_workload
    from trainables.recommender import Recommender

    if args.resume:
        rows = TrialStore(spec.results_dir).rows()
        measured = [r["config"] for r in rows if r.get("optimizer") == WARM_START and not r.get("confirms")]
        if measured:
            return measured
    w = spec.workload
    workload = make_workload(
        w.name, sf=w.sf, cache_dir=ensure_home() / "data",
        queries_file=Path(w.queries_file) if w.queries_file else None,
    )  # fmt: skip
    searched = knob_space_for(spec, shape)  # a --knobs subset: the recommendation projected onto it
    if str(args.warm_start).startswith(("http://", "https://")):
        from raytune.engines import dialect_of
        from serve._client import recommend_remote

        queries = [q.sql for q in workload.queries_for(dialect_of(spec.engine))]
        configs = recommend_remote(
            args.warm_start, spec.engine, queries, cpus=shape.cpus, memory_bytes=shape.memory_bytes,
            top=args.warm_start_configs, candidates=max(8, args.warm_start_configs), seed=spec.seed,
        )  # fmt: skip
        return [{k: v for k, v in c.items() if k in searched} for c in configs]
    model = Recommender.load(Path(args.warm_start))
    # One run under the default gives the plans and metrics the recommender reads (not on replayed records).
    described = describe_workload(spec.engine, workload, shape, explain=spec.backend == "pool")
    recs = model.recommend(
        described, cost_model=CostModel.load(args.model), candidates=max(8, args.warm_start_configs),
        top=args.warm_start_configs, seed=spec.seed,
    )  # fmt: skip
    return [{k: v for k, v in r.config.items() if k in searched} for r in recs]


def _abs(path: Path | None) -> str | None:
    return str(path.resolve()) if path else None


def _mix(mix: str | None) -> str | None:
    """A mix file as an absolute path (instances may run elsewhere); ``random:SEED`` as it is."""
    return mix if mix is None or mix.startswith("random:") else _abs(Path(mix))


class _Progress:
    """A progress bar over trials with the best result so far; confirmation runs show their count."""

    def __init__(self, total: int, objective: Any) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="trial", file=sys.stderr, dynamic_ncols=True, desc="search")
        self.objective = objective
        self.best: float | None = None
        self.failed = 0
        self.confirmed = 0

    def __call__(self, row: dict[str, Any]) -> None:
        value = row.get("objective")
        if row.get("confirms"):
            self.confirmed += 1
            self.bar.set_description_str("confirm")
        elif row.get("status") != "SUCCEEDED":
            self.failed += 1
        elif value is not None and (self.best is None or self.objective.better(value, self.best)):
            self.best = value
        best = "-" if self.best is None else f"{self.best:.4g}"
        confirm = f", confirmation runs {self.confirmed}" if self.confirmed else ""
        self.bar.set_postfix_str(f"best {best}, failed {self.failed}{confirm}")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it lies below it, as the user would type it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _confirm_runs(spec: Any) -> int:
    """How many confirmation runs the search will add: default, rules and ``confirm`` configs per round."""
    if spec.confirm <= 0:
        return 0
    baselines = 2 if spec.baselines and spec.optimizer != "configs" else 1
    return (baselines + spec.confirm) * spec.confirm_rounds


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from raytune.trial import configure_logging

    configure_logging(args.verbose)
    if not args.verbose:
        warnings.filterwarnings("ignore")
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        spec, recorded = _check_inputs(args)
        from raytune.tune import check_slots, connect_ray, knob_space_for, slot_shape_for

        backend = None
        if spec.backend == "tabulated":
            from raytune.backends import TabulatedBackend

            shape = slot_shape_for(spec)
            backend = TabulatedBackend(recorded, knob_space_for(spec, shape))
        elif spec.backend == "surrogate":
            shape = slot_shape_for(spec)
            backend = _surrogate(args, spec, shape)
        else:
            connect_ray(spec)
            check_slots(spec.engine)
            shape = slot_shape_for(spec)
        if args.warm_start:
            spec = dataclasses.replace(spec, warm_start=_warm_start(args, spec, shape))
            print(f"warm start: {len(spec.warm_start)} configs from {args.warm_start}", file=sys.stderr)
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from raytune.search._report import format_summary, plot_convergence, summarize, write_best
    from raytune.storage import TrialStore
    from raytune.tune import run_search

    results = spec.results_dir.resolve()
    done = len(TrialStore(results)) if args.resume else 0
    confirm_runs = _confirm_runs(spec)
    print(
        f"knobray search: {spec.engine} / {args.workload} sf {args.sf:g} / {spec.optimizer} / "
        f"{spec.trials} trials on {spec.instances} slots of {shape.describe()}"
        f"{_BACKEND_NOTE.get(spec.backend, '')}"
        f"{f' + {confirm_runs} confirmation runs' if confirm_runs else ''} -> {_shown(results)}",
        file=sys.stderr,
    )
    progress = _Progress(spec.trials + confirm_runs, spec.objective)
    progress.bar.update(done)
    t0 = time.perf_counter()
    try:
        store = run_search(spec, resume=args.resume, on_record=progress, backend=backend)
    except KnobrayError as exc:
        progress.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        progress.close()
        print(
            f"interrupted; continue with: python -m raytune.search --resume --results {results}",
            file=sys.stderr,
        )
        return 130
    progress.close()
    rows = TrialStore(results).rows() if store is None else store.rows()
    summary = summarize(rows, spec.objective)
    lines = format_summary(summary)
    best = write_best(results, summary, spec.engine)
    plot = plot_convergence(
        rows,
        summary,
        results / "convergence.png",
        f"{spec.engine} {args.workload} sf {args.sf:g}, {spec.optimizer}",
    )
    print("\n".join(lines))
    if best is not None and summary.crowned_config is not None:
        from raytune.knobs import load_catalog

        catalog = load_catalog(spec.engine)
        native = catalog.validate(summary.crowned_config, allow_denied=True)
        title = (
            "best configuration"
            if summary.significant is not False
            else "best configuration (not significant)"
        )
        print(f"{title}:" if native else f"{title}: the server defaults")
        for name, value in native.items():
            print(f"  {name} = {catalog[name].format(value)}")
        print(f"ready to apply: {_shown(best[1])} (config file), {_shown(best[0])} (with SQL statements)")
    if spec.backend == "surrogate":
        print("these numbers are the cost model's predictions, not measurements: measure the configuration with "
              "--backend pool --optimizer configs before applying it")  # fmt: skip
    print(f"convergence plot: {_shown(plot)}")
    print(
        f"trial records: {_shown(results / 'trials.parquet')} ({len(rows)} rows); "
        f"took {time.perf_counter() - t0:.0f}s"
    )
    return 0
