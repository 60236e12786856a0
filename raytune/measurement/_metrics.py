"""Internal server metrics around a run: snapshot before, snapshot after, keep the numeric deltas."""

from __future__ import annotations

from typing import TYPE_CHECKING

from raytune.measurement._stats import numeric_delta

if TYPE_CHECKING:
    from raytune.engines import EngineInstance


def snapshot(instance: EngineInstance, database: str) -> dict[str, object]:
    """The engine's internal counters now (pg_stat_* / SHOW GLOBAL STATUS)."""
    with instance.connect(database) as conn:
        return instance.metrics_snapshot(conn, database)


def delta(before: dict[str, object], after: dict[str, object]) -> dict[str, float]:
    """Counter deltas over the interval between two snapshots."""
    return numeric_delta(before, after)
