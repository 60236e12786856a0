"""Command line of ``python -m raytune.corpus``: collect, add to and describe a training corpus."""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from raytune.errors import KnobrayError

EXIT_BAD_INPUT = 2
DEFAULT_CORPUS = Path("data") / "corpus"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m raytune.corpus", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("collect", help="measure workloads under sampled configurations on real servers")
    c.add_argument("--engine", default="postgres",
                   help="postgres (default), mariadb, or berkeleydb (the influence diagram's training runs)")  # fmt: skip
    c.add_argument("--workloads", action="append", help="query files, a glob (repeatable; SQL engines)")
    c.add_argument("--mixes", type=int, metavar="N",
                   help="berkeleydb: N random db_perf workloads, each under a random one of the 32 combinations")  # fmt: skip
    c.add_argument("--duration", type=float, default=20.0,
                   help="berkeleydb: longest run in seconds (a run stops at steady state; default 20)")  # fmt: skip
    c.add_argument("--instances", type=int, default=1, help="berkeleydb: runs at a time (default 1)")
    c.add_argument("--limit", type=int, help="take the first N workload files (sorted by name)")
    c.add_argument("--benchmark", default="tpch", help="the data the queries run on: tpch (default) or tpcds")
    c.add_argument("--sf", type=float,
                   help="scale factor (default 0.1; berkeleydb: 24,500 x SF items, default 5)")  # fmt: skip
    c.add_argument(
        "--slot-cpus",
        default="1,2",
        help="slot shapes to measure in, as CPU counts (default 1,2: two domains)",
    )
    c.add_argument(
        "--slot-memory", help="memory of every slot, e.g. 4GB (default: the node's RAM / its slots)"
    )
    c.add_argument(
        "--configs", type=int, default=10, help="Latin-hypercube configs per workload (default 10)"
    )
    c.add_argument("--perturb", type=int, default=4, help="neighbours of each workload's best (default 4)")
    c.add_argument("--timeout", type=float, default=20.0, help="statement timeout of a measured run (s)")
    c.add_argument(
        "--query-timeout", type=float, default=5.0, help="query check: drop queries slower than this"
    )
    c.add_argument("--seed", type=int, default=0)
    c.add_argument(
        "--out", type=Path, required=True, help="collection directory (trial records, checked queries)"
    )
    c.add_argument("--corpus", type=Path, help="the corpus to add the measurements to (default OUT/corpus)")
    c.add_argument("-v", "--verbose", action="store_true")

    a = sub.add_parser("add", help="append the trial records of searches to a corpus (no duplicates)")
    a.add_argument("results", type=Path, nargs="+", help="results directories of searches")
    a.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help=f"corpus directory (default {DEFAULT_CORPUS})"
    )

    d = sub.add_parser("card", help="write and print the dataset card of a corpus")
    d.add_argument("corpus", type=Path, nargs="?", default=DEFAULT_CORPUS)
    return p


def _files(patterns: list[str], limit: int | None) -> tuple[Path, ...]:
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(Path(m) for m in glob.glob(pattern)) or (
            [Path(pattern)] if Path(pattern).is_file() else []
        )
        if not matches:
            raise KnobrayError(
                f"--workloads {pattern!r} matches no file; pass query files or a glob like 'DIR/*.wg'"
            )
        found.extend(matches)
    files = sorted(dict.fromkeys(p.resolve() for p in found), key=lambda p: _natural(p.stem))
    return tuple(files[:limit] if limit else files)


def _natural(stem: str) -> tuple[str, int]:
    head, _, tail = stem.rpartition("_")
    return (head, int(tail)) if tail.isdigit() else (stem, 0)


def _shapes(args: argparse.Namespace) -> tuple[object, ...]:
    from raytune.hardware import detect_hardware
    from raytune.slots import parse_memory, resolve_shape

    node = detect_hardware()
    try:
        cpus = [int(x) for x in args.slot_cpus.split(",") if x.strip()]
    except ValueError:
        raise KnobrayError(
            f"--slot-cpus {args.slot_cpus!r} is not a list of CPU counts; write e.g. 1,2"
        ) from None
    memory = parse_memory(args.slot_memory) if args.slot_memory else None
    return tuple(
        resolve_shape(
            node,
            max(1, node.cores // n),
            cpus=n,
            memory_bytes=memory or node.ram_bytes // max(1, node.cores // n),
        )
        for n in cpus
    )


def _collect(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from raytune.corpus._card import write_card
    from raytune.corpus._collect import CollectPlan, collect

    if args.engine == "berkeleydb" or args.mixes is not None:
        return _collect_dbperf(args)
    if not args.workloads:
        raise KnobrayError("collect needs --workloads: query files or a glob like 'DIR/*.wg'")
    plan = CollectPlan(
        engine=args.engine,
        workload_files=_files(args.workloads, args.limit),
        out=args.out,
        benchmark=args.benchmark,
        sf=0.1 if args.sf is None else args.sf,
        shapes=_shapes(args),  # type: ignore[arg-type]
        configs=args.configs,
        perturb=args.perturb,
        seed=args.seed,
        timeout_s=args.timeout,
        query_timeout_s=args.query_timeout,
        corpus_dir=args.corpus,
    )
    print(
        f"knobray corpus: {plan.engine}, {len(plan.workload_files)} workloads over {plan.benchmark} sf {plan.sf:g}, "
        f"{len(plan.shapes)} slot shapes, {2 + plan.configs + plan.perturb} runs per workload and shape "
        f"-> {plan.out}",
        file=sys.stderr,
    )
    bar = tqdm(unit="run", file=sys.stderr, dynamic_ncols=True, desc="collect")
    try:
        corpus = collect(plan, on_record=lambda row: bar.update(1))
    finally:
        bar.close()
    print(write_card(corpus))
    return 0


def _collect_dbperf(args: argparse.Namespace) -> int:
    """``collect --engine berkeleydb --mixes N``: the influence diagram's training runs (``_collect_dbperf``)."""
    from tqdm import tqdm

    from raytune.corpus import DbperfPlan, collect_dbperf
    from raytune.corpus._collect_dbperf import DBPERF_SF
    from raytune.workloads import ItemSpace

    if args.engine != "berkeleydb":
        raise KnobrayError(f"--mixes measures db_perf workloads on berkeleydb, not {args.engine}; "
                           f"use --engine berkeleydb, or --workloads FILES for {args.engine}")  # fmt: skip
    if args.workloads:
        raise KnobrayError("berkeleydb has no SQL: it runs db_perf workloads, not query files; drop --workloads "
                           "and give --mixes N")  # fmt: skip
    if args.mixes is None:
        raise KnobrayError("collect --engine berkeleydb needs --mixes N: N random db_perf workloads, e.g. --mixes 200")  # fmt: skip
    plan = DbperfPlan(out=args.out, mixes=args.mixes, sf=DBPERF_SF if args.sf is None else args.sf,
                      duration_s=args.duration, instances=args.instances, seed=args.seed)  # fmt: skip
    print(f"knobray collect: berkeleydb, {plan.mixes} db_perf workloads x a random one of the 32 combinations, "
          f"{ItemSpace(plan.sf).items:,} items, runs of at most {plan.duration_s:g} s -> {plan.runs_dir}", file=sys.stderr)  # fmt: skip
    bar = tqdm(unit="run", file=sys.stderr, dynamic_ncols=True, desc="collect")
    try:
        store = collect_dbperf(plan, on_record=lambda row: bar.update(1))
    finally:
        bar.close()
    ok = sum(r.get("status") == "SUCCEEDED" for r in store.rows())
    print(f"{ok} succeeded runs in {plan.runs_dir}; learn a diagram from them: "
          f"python -m trainables.train influence --records {plan.runs_dir} --out DIR")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from raytune.trial import configure_logging

    configure_logging(getattr(args, "verbose", False))
    from raytune.corpus._add import add_results
    from raytune.corpus._card import write_card
    from raytune.corpus._store import Corpus

    try:
        if args.command == "collect":
            return _collect(args)
        if args.command == "add":
            corpus = Corpus(args.corpus)
            measurements, workloads = add_results(corpus, args.results)
            print(f"added {measurements} measurements and {workloads} workloads to {args.corpus}")
            write_card(corpus)
            return 0
        print(write_card(Corpus(args.corpus)), end="")
        return 0
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; run the same command again to continue", file=sys.stderr)
        return 130
