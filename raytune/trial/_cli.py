"""Command line of ``python -m raytune.trial``: measure one configuration on a fresh instance."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from raytune.errors import KnobrayError
from raytune.records import TrialStatus

EXIT_FAILED_TRIAL = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m raytune.trial",
        description="Measure one knob configuration on a fresh database instance and print its TrialRecord as JSON.",
    )
    p.add_argument("--engine", default="postgres", help="postgres (default) or mariadb")
    p.add_argument(
        "--workload", default="tpch", help="tpch (default), tpcds, pgbench, sysbench-rw, sysbench-ro, custom"
    )
    p.add_argument("--sf", type=float, default=0.01, help="scale factor (default 0.01)")
    p.add_argument(
        "--config", help="configuration as JSON text or a JSON file (default: the server defaults)"
    )
    p.add_argument(
        "--queries", type=Path, help="query file (.sql, or E2ETune .wg) run instead of the standard queries"
    )
    p.add_argument("--schema", type=Path, help="custom workload: schema SQL file")
    p.add_argument("--data", type=Path, help="custom workload: folder of <table>.csv files with a header")
    p.add_argument(
        "--repeats", type=int, default=3, help="OLAP: measured passes after one warm-up pass (default 3)"
    )
    p.add_argument(
        "--timeout", type=float, default=60.0, help="OLAP: statement timeout in seconds (default 60)"
    )
    p.add_argument("--duration", type=int, default=30, help="OLTP: measured seconds (default 30)")
    p.add_argument("--warmup", type=int, default=5, help="OLTP: warm-up seconds (default 5)")
    p.add_argument("--clients", type=int, default=4, help="OLTP: client connections (default 4)")
    p.add_argument(
        "--bin-dir", type=Path, help="server bin directory (default: embedded PostgreSQL / Debian MariaDB)"
    )
    p.add_argument(
        "--allow-unsafe", action="store_true", help="allow deny-listed knobs (fsync, logging, ...)"
    )
    p.add_argument("--no-plans", action="store_true", help="do not record EXPLAIN plans")
    p.add_argument("--out", type=Path, help="also write the record to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    return p


def parse_config(text: str | None) -> dict[str, Any]:
    """``--config``: JSON text, or the path of a JSON file.

    Raises:
        KnobrayError: Not JSON, not an object, or a missing file.
    """
    if not text:
        return {}
    source = "--config"
    stripped = text.strip()
    if not stripped.startswith("{"):
        path = Path(stripped)
        if not path.is_file():
            raise KnobrayError(
                f'--config {text!r} is neither JSON nor an existing file; pass \'{{"knob": "value"}}\' or a path'
            )
        stripped, source = path.read_text(), str(path)
    try:
        config = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise KnobrayError(
            f"{source} is not valid JSON ({exc.msg} at column {exc.colno}); fix the quoting"
        ) from None
    if not isinstance(config, dict):
        raise KnobrayError(f"{source} must be a JSON object of knob -> value")
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Imports after argument parsing keep --help fast.
    from raytune.trial._runner import MeasureSettings, TrialRunner, ensure_home, validate_config
    from raytune.workloads import make_workload

    try:
        if args.engine not in ("postgres", "mariadb"):
            raise KnobrayError(f"unknown engine {args.engine!r}; use postgres or mariadb")
        config = parse_config(args.config)
        validate_config(args.engine, config, allow_unsafe=args.allow_unsafe)
        workload = make_workload(
            args.workload,
            sf=args.sf,
            cache_dir=ensure_home() / "data",
            queries_file=args.queries,
            schema_file=args.schema,
            data_dir=args.data,
        )
        workload.check(args.engine)
        settings = MeasureSettings(
            repeats=args.repeats,
            timeout_s=args.timeout,
            duration_s=args.duration,
            warmup_s=args.warmup,
            clients=args.clients,
            plans=not args.no_plans,
        )
        with TrialRunner(
            args.engine, workload, bin_dir=args.bin_dir, settings=settings, allow_unsafe=args.allow_unsafe
        ) as runner:
            record = runner.run(config, on_progress=_progress() if sys.stderr.isatty() else None)
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    text = record.to_json()
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if record.status is TrialStatus.FAILED:
        print(f"trial FAILED: {record.error}", file=sys.stderr)
        return EXIT_FAILED_TRIAL
    return 0


def _progress():  # type: ignore[no-untyped-def]
    def show(what: str) -> None:
        print(f"\r  running {what:<30}", end="", file=sys.stderr, flush=True)

    return show
