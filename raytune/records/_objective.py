"""The one definition of what a search optimises: its name, which way is better, and how failures score."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from raytune.errors import KnobrayError
from raytune.records._trial import Direction

OBJECTIVES = ("latency", "p95", "throughput")
_NAMES = {
    ("latency", True): "total_latency_s",
    ("p95", True): "p95_latency_s",
    ("p95", False): "p95_latency_ms",
    ("throughput", False): "throughput_tps",
}


@dataclass(frozen=True)
class Objective:
    """What a trial's number means and how the optimizer scores it.

    Attributes:
        name: The record field: ``total_latency_s``, ``p95_latency_s``, ``p95_latency_ms`` or ``throughput_tps``.
        direction: ``min`` (latency) or ``max`` (throughput).
        penalty_factor: A penalised trial scores this factor worse than the worst success seen.
        fallback: The penalty before any success (every query timing out 100 times over; 0 tps).
    """

    name: str
    direction: Direction
    penalty_factor: float = 2.0
    fallback: float = 0.0

    @classmethod
    def for_workload(
        cls,
        olap: bool,
        choice: str = "",
        *,
        timeout_s: float = 60.0,
        penalty_factor: float = 2.0,
        workload: str = "",
    ) -> Objective:
        """The objective ``choice`` (``latency``, ``p95``, ``throughput``; ``""`` = the workload's default).

        Raises:
            KnobrayError: A choice the workload cannot produce.
        """
        choice = choice or ("latency" if olap else "throughput")
        if choice not in OBJECTIVES:
            raise KnobrayError(f"unknown objective {choice!r}; use one of: {', '.join(OBJECTIVES)}")
        if (choice, olap) not in _NAMES:
            kinds = "latency or p95" if olap else "throughput or p95"
            what = f"workload {workload}" if workload else f"an {'OLAP' if olap else 'OLTP'} workload"
            raise KnobrayError(f"objective {choice!r} does not fit {what}; use {kinds}")
        name = _NAMES[(choice, olap)]
        direction = Direction.MAXIMIZE if name == "throughput_tps" else Direction.MINIMIZE
        in_ms = 1000.0 if name.endswith("_ms") else 1.0
        fallback = timeout_s * 100 * in_ms if direction is Direction.MINIMIZE else 0.0
        return cls(name, direction, penalty_factor, fallback)

    @property
    def mode(self) -> str:
        """Ray Tune's ``mode``: ``min`` or ``max``."""
        return self.direction.value

    @property
    def unit(self) -> str:
        return {"total_latency_s": "s", "p95_latency_s": "s", "p95_latency_ms": " ms"}.get(self.name, " tps")

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a < b if self.direction is Direction.MINIMIZE else a > b

    def best(self, values: Iterable[float]) -> float | None:
        values = [v for v in values if v is not None and math.isfinite(v)]
        if not values:
            return None
        return min(values) if self.direction is Direction.MINIMIZE else max(values)

    def worst(self, values: Iterable[float]) -> float | None:
        values = [v for v in values if v is not None and math.isfinite(v)]
        if not values:
            return None
        return max(values) if self.direction is Direction.MINIMIZE else min(values)

    def improvement_pct(self, value: float | None, baseline: float | None) -> float | None:
        """How much better ``value`` is than ``baseline`` in percent (positive = better)."""
        if value is None or baseline is None or baseline == 0:
            return None
        sign = 1.0 if self.direction is Direction.MINIMIZE else -1.0
        return sign * 100.0 * (baseline - value) / baseline

    def gain(self, ratio: float) -> float:
        """The fractional gain a ratio value/baseline stands for (positive = better)."""
        return 1.0 - ratio if self.direction is Direction.MINIMIZE else ratio - 1.0

    def penalty(self, worst_success: float | None, censored: float | None = None) -> float:
        """The score of a penalised trial: ``penalty_factor`` times worse than the worst success seen, and never
        better than its own censored value (a timed-out run's partial measurement)."""
        if worst_success is None:
            score = self.fallback
        elif self.direction is Direction.MINIMIZE:
            score = worst_success * self.penalty_factor
        else:
            score = worst_success / self.penalty_factor
        if censored is not None and self.better(censored, score) is False:
            return censored
        return score


@dataclass
class PenaltyState:
    """The worst successful result of a search so far: what penalties are relative to.

    It is derived from the search's records, so a resumed search rebuilds it from its trial store and keeps
    scoring failures as it did before the interruption.
    """

    objective: Objective
    worst_success: float | None = None

    def observe(self, value: float) -> None:
        current = self.worst_success
        self.worst_success = value if current is None else self.objective.worst([current, value])

    def score(self, value: float | None, penalised: bool, censored: float | None = None) -> float:
        """What the optimizer sees for a trial: its value, or the penalty when it is penalised."""
        if not penalised and value is not None:
            self.observe(value)
            return value
        return self.objective.penalty(self.worst_success, censored)
