"""Column statistics files (``stats/<table>.txt``): equi-height histogram buckets per column."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

_TABLE = re.compile(r"^Table:\s*(\S+)")
_COLUMN = re.compile(r"^\s+Column:\s*(\S+)")
_BUCKET = re.compile(r"height\s*=\s*([0-9.]+)")


@dataclass(frozen=True)
class TableStats:
    """Per-table summary of its column histograms."""

    table: str
    columns: int
    buckets: int
    max_bucket_height: float

    def features(self) -> list[float]:
        """Three scaled numbers for the plan encoder."""
        return [math.log1p(self.columns), math.log1p(self.buckets), self.max_bucket_height]


def load_stats(stats_dir: Path) -> dict[str, TableStats]:
    """Reads every ``*.txt`` under ``stats_dir``; an absent folder yields no statistics."""
    out: dict[str, TableStats] = {}
    if not Path(stats_dir).is_dir():
        return out
    for path in sorted(Path(stats_dir).glob("*.txt")):
        table, columns, buckets, height = path.stem.lower(), 0, 0, 0.0
        for line in path.read_text(errors="replace").splitlines():
            if m := _TABLE.match(line):
                table = m.group(1).lower()
            elif _COLUMN.match(line):
                columns += 1
            elif m := _BUCKET.search(line):
                buckets += 1
                height = max(height, float(m.group(1)))
        out[table] = TableStats(table, columns, buckets, height)
    return out
