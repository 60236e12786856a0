"""Command-line arguments shared by ``python -m raytune.trial`` and ``python -m raytune.search``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from raytune.errors import KnobrayError
from raytune.home import ensure_home
from raytune.trial._runner import MeasureSettings
from raytune.workloads import Workload, make_workload


def configure_logging(verbose: bool) -> None:
    """Library code logs; the command lines show warnings, or everything with ``-v``, on stderr."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def add_workload_arguments(p: argparse.ArgumentParser, *, sf: float) -> None:
    """Engine, workload and server options."""
    p.add_argument("--engine", default="postgres", help="postgres (default), mariadb or berkeleydb")
    p.add_argument(
        "--workload",
        default=None,
        help="tpch (default), tpcds, pgbench, sysbench-rw, sysbench-ro, custom; dbperf (default on berkeleydb)",
    )
    p.add_argument("--sf", type=float, default=sf, help=f"scale factor (default {sf:g})")
    p.add_argument(
        "--queries", type=Path, help="query file (.sql, or E2ETune .wg) run instead of the standard queries"
    )
    p.add_argument("--schema", type=Path, help="custom workload: schema SQL file")
    p.add_argument("--data", type=Path, help="custom workload: folder of <table>.csv files with a header")
    p.add_argument(
        "--mix", help="dbperf: the transaction mix, a JSON file of its 8 characteristics or random:SEED"
    )
    p.add_argument(
        "--bin-dir", type=Path, help="server bin directory (default: embedded PostgreSQL / Debian MariaDB)"
    )
    p.add_argument(
        "--allow-unsafe", action="store_true", help="allow deny-listed knobs (fsync, logging, ...)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")


def add_measure_arguments(p: argparse.ArgumentParser, defaults: MeasureSettings) -> None:
    """How each trial measures."""
    p.add_argument(
        "--repeats",
        type=int,
        default=defaults.repeats,
        help=f"OLAP: measured passes after one warm-up pass (default {defaults.repeats})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=defaults.timeout_s,
        help=f"OLAP: statement timeout in seconds (default {defaults.timeout_s:g})",
    )
    p.add_argument(
        "--duration",
        type=int,
        default=defaults.duration_s,
        help=f"OLTP: measured seconds (default {defaults.duration_s})",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=defaults.warmup_s,
        help=f"OLTP: warm-up seconds (default {defaults.warmup_s})",
    )
    p.add_argument(
        "--clients",
        type=int,
        default=defaults.clients,
        help=f"OLTP: client connections (default {defaults.clients})",
    )
    p.add_argument(
        "--objective", default="", help="latency (OLAP default), p95, or throughput (OLTP default)"
    )


def workload_from_args(args: argparse.Namespace) -> Workload:
    """The workload the arguments name, checked against the engine (no server is touched).

    Raises:
        KnobrayError: Unknown engine or workload, or bad workload inputs.
    """
    from raytune.engines import ENGINES

    if args.engine not in ENGINES:
        raise KnobrayError(f"unknown engine {args.engine!r}; use one of: {', '.join(ENGINES)}")
    if args.workload is None:
        args.workload = "dbperf" if args.engine == "berkeleydb" else "tpch"
    workload = make_workload(
        args.workload,
        sf=args.sf,
        cache_dir=ensure_home() / "data",
        queries_file=args.queries,
        schema_file=args.schema,
        data_dir=args.data,
        mix=args.mix,
    )
    workload.check(args.engine)
    return workload


def settings_from_args(args: argparse.Namespace, *, plans: bool = True) -> MeasureSettings:
    return MeasureSettings(
        repeats=args.repeats,
        timeout_s=args.timeout,
        duration_s=args.duration,
        warmup_s=args.warmup,
        clients=args.clients,
        plans=plans,
        objective=args.objective,
    )
