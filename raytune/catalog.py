"""``python -m raytune.catalog``: introspect a server's knobs into a catalog file.

The shipped snapshots in ``raytune/knobs/data/<engine>-catalog.json`` are made with this command; knobray also
caches the catalog of every server version it starts, so validation matches the server actually used.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from raytune.engines import ENGINES, create_instance
from raytune.errors import KnobrayError
from raytune.home import knobray_home
from raytune.knobs import save_catalog


def write_catalog(engine: str, out: Path | None, bin_dir: Path | None = None) -> Path:
    """Starts a throw-away instance of ``engine``, introspects every knob and saves the catalog."""
    scratch = knobray_home() / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    scratch.chmod(0o755)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        Path(tmp).chmod(0o755)
        instance = create_instance(engine, Path(tmp) / engine, bin_dir=bin_dir)
        try:
            instance.start()
            return save_catalog(instance.catalog(), instance.server_version(), out)
        finally:
            instance.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raytune.catalog", description=__doc__.splitlines()[0])
    parser.add_argument("--engine", required=True, choices=list(ENGINES))
    parser.add_argument("--out", type=Path, help="output JSON (default: the per-version cache)")
    parser.add_argument(
        "--bin-dir", type=Path, help="server bin directory (default: the engine's default install)"
    )
    args = parser.parse_args(argv)
    try:
        path = write_catalog(args.engine, args.out, args.bin_dir)
    except KnobrayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
