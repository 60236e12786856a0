"""How many trials of a search were measured at the same time."""

from __future__ import annotations

from typing import Any


def max_overlap(rows: list[dict[str, Any]]) -> int:
    """Most trials measured at the same time (from each trial's start and duration)."""
    events = []
    for r in rows:
        if r["timings"].get("total_s"):
            events += [(r["started_at"], 1), (r["started_at"] + r["timings"]["total_s"], -1)]
    running = peak = 0
    for _, delta in sorted(events):
        running += delta
        peak = max(peak, running)
    return peak
