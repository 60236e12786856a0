"""Command line of ``python -m raytune.trial``: measure one configuration on a fresh instance."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from raytune.errors import KnobrayError
from raytune.records import TrialStatus
from raytune.trial._args import (
    add_measure_arguments,
    add_workload_arguments,
    configure_logging,
    settings_from_args,
    workload_from_args,
)
from raytune.trial._runner import MeasureSettings

EXIT_FAILED_TRIAL = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m raytune.trial",
        description="Measure one knob configuration on a fresh database instance and print its TrialRecord as JSON.",
    )
    add_workload_arguments(p, sf=0.01)
    add_measure_arguments(p, MeasureSettings(repeats=3, timeout_s=60.0, duration_s=30, warmup_s=5, clients=4))
    p.add_argument(
        "--config", help="configuration as JSON text or a JSON file (default: the server defaults)"
    )
    p.add_argument("--no-plans", action="store_true", help="do not record EXPLAIN plans")
    p.add_argument("--out", type=Path, help="also write the record to this file")
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
    configure_logging(args.verbose)
    from raytune.trial._runner import TrialRunner, objective_for, validate_config

    try:
        workload = workload_from_args(args)
        config = parse_config(args.config)
        validate_config(args.engine, config, allow_unsafe=args.allow_unsafe)
        settings = settings_from_args(args, plans=not args.no_plans)
        objective_for(workload, settings)
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
    if record.status is not TrialStatus.SUCCEEDED:
        print(f"trial {record.status.value}: {record.error}", file=sys.stderr)
        return EXIT_FAILED_TRIAL
    return 0


def _progress():  # type: ignore[no-untyped-def]
    def show(what: str) -> None:
        print(f"\r  running {what:<30}", end="", file=sys.stderr, flush=True)

    return show
