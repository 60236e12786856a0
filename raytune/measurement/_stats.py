"""Small statistics helpers shared by the OLAP and OLTP measurements."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; ``None`` for no values."""
    if not values:
        return None
    data = sorted(values)
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def numeric_delta(before: Mapping[str, object], after: Mapping[str, object]) -> dict[str, float]:
    """``after - before`` for every key numeric in both (counters of an interval)."""
    out: dict[str, float] = {}
    for key, value in after.items():
        prev = before.get(key)
        if isinstance(value, int | float) and isinstance(prev, int | float) and not isinstance(value, bool):
            out[key] = float(value) - float(prev)
    return out
