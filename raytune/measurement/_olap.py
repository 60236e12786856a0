"""Measuring a set of queries: a warm-up pass, then repeats, with a per-statement timeout."""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raytune.errors import EngineError, KnobrayError, first_line
from raytune.measurement._stats import percentile

if TYPE_CHECKING:
    from raytune.engines import EngineInstance
    from raytune.workloads import Query

logger = logging.getLogger(__name__)


class QueryFailedError(KnobrayError):
    """A query failed for a reason other than the timeout (the config made it fail, or the SQL is wrong)."""


@dataclass(frozen=True)
class QueryTiming:
    """One query's latencies.

    Attributes:
        name: Query name.
        latency_s: Median over the repeats; the timeout when it timed out.
        samples_s: Every measured run (warm-up excluded).
        timed_out: Whether it hit the statement timeout (then ``latency_s`` is the timeout).
    """

    name: str
    latency_s: float
    samples_s: tuple[float, ...]
    timed_out: bool = False


@dataclass(frozen=True)
class OlapResult:
    """Latencies of a query set: ``total_s`` (the objective), mean and p95 over the queries."""

    queries: tuple[QueryTiming, ...]
    total_s: float
    mean_s: float
    p95_s: float
    timed_out: tuple[str, ...]
    repeats: int
    timeout_s: float

    def per_query(self) -> dict[str, dict[str, Any]]:
        return {
            q.name: {"latency_s": q.latency_s, "samples_s": list(q.samples_s), "timed_out": q.timed_out}
            for q in self.queries
        }


def _execute(instance: EngineInstance, cur: Any, sql: str) -> float:
    t0 = time.perf_counter()
    cur.execute(sql)
    if cur.description is not None:
        cur.fetchall()
    return time.perf_counter() - t0


def run_olap(
    instance: EngineInstance,
    database: str,
    queries: Sequence[Query],
    *,
    repeats: int = 3,
    warmup: bool = True,
    timeout_s: float = 60.0,
    on_query: Callable[[str], None] | None = None,
) -> OlapResult:
    """Runs ``queries`` (translated to the instance's dialect): one warm-up pass, then ``repeats`` passes.

    A query that hits the statement timeout counts as ``timeout_s`` and is flagged; it is not repeated.

    Raises:
        QueryFailedError: A query failed for another reason (name and error in the message).
        EngineError: The server died while running.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    texts = [(q.name, q.translated(instance.dialect)) for q in queries]
    samples: dict[str, list[float]] = {name: [] for name, _ in texts}
    timed_out: set[str] = set()
    passes = [False] * (1 if warmup else 0) + [True] * repeats
    with instance.connect(database) as conn:
        cur = conn.cursor()
        cur.execute(instance.sql.statement_timeout(timeout_s))
        for measured in passes:
            for name, sql in texts:
                if name in timed_out:
                    continue
                if on_query:
                    on_query(name)
                try:
                    elapsed = _execute(instance, cur, sql)
                except (*instance.statement_errors, OSError) as exc:  # the query failed; a bug propagates
                    if instance.sql.is_timeout_error(exc):
                        timed_out.add(name)
                        continue
                    if not instance.running:
                        raise EngineError(f"{instance.engine} server died while running {name}") from exc
                    raise QueryFailedError(f"query {name} failed: {first_line(exc)}") from exc
                if measured:
                    samples[name].append(elapsed)
    timings = tuple(
        QueryTiming(name, timeout_s, tuple(samples[name]), True)
        if name in timed_out
        else QueryTiming(name, statistics.median(samples[name]), tuple(samples[name]))
        for name, _ in texts
    )
    latencies = [t.latency_s for t in timings]
    return OlapResult(
        queries=timings,
        total_s=sum(latencies),
        mean_s=statistics.fmean(latencies),
        p95_s=percentile(latencies, 95) or 0.0,
        timed_out=tuple(sorted(timed_out)),
        repeats=repeats,
        timeout_s=timeout_s,
    )


def collect_plans(instance: EngineInstance, database: str, queries: Sequence[Query]) -> dict[str, Any]:
    """``EXPLAIN (FORMAT JSON)`` of every query, parsed; a query that cannot be explained maps to its error."""
    plans: dict[str, Any] = {}
    with instance.connect(database) as conn:
        cur = conn.cursor()
        for q in queries:
            try:
                cur.execute(instance.sql.explain_json(q.translated(instance.dialect)))
                value = cur.fetchone()[0]
                plans[q.name] = json.loads(value) if isinstance(value, str) else value
            except Exception as exc:  # noqa: BLE001 - a plan is informative, never fatal
                plans[q.name] = {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    return plans
