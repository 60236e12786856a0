"""The one Objective: direction, penalties, and the penalty state a resumed search rebuilds (pure logic)."""

from __future__ import annotations

import pytest

from raytune.errors import KnobrayError
from raytune.records import Direction, Objective, PenaltyState


def test_objective_follows_the_workload_and_choice() -> None:
    assert Objective.for_workload(True).name == "total_latency_s"
    assert Objective.for_workload(True, "p95").name == "p95_latency_s"
    tps = Objective.for_workload(False)
    assert tps.name == "throughput_tps" and tps.direction is Direction.MAXIMIZE and tps.mode == "max"
    assert Objective.for_workload(False, "p95").name == "p95_latency_ms"
    with pytest.raises(KnobrayError, match="does not fit"):
        Objective.for_workload(True, "throughput")
    with pytest.raises(KnobrayError, match="unknown objective"):
        Objective.for_workload(True, "speed")


def test_better_best_worst_and_gains_follow_the_direction() -> None:
    lat, tps = Objective.for_workload(True), Objective.for_workload(False)
    assert lat.better(1.0, 2.0) and not tps.better(1.0, 2.0)
    assert lat.best([3.0, 1.0, 2.0]) == 1.0 and tps.best([3.0, 1.0, 2.0]) == 3.0
    assert lat.worst([3.0, 1.0]) == 3.0 and tps.worst([3.0, 1.0]) == 1.0
    assert lat.improvement_pct(2.0, 4.0) == pytest.approx(50.0)
    assert tps.improvement_pct(150.0, 100.0) == pytest.approx(50.0)
    assert lat.gain(0.8) == pytest.approx(0.2) and tps.gain(1.2) == pytest.approx(0.2)
    assert lat.best([]) is None


def test_penalty_is_relative_to_the_worst_success_and_never_better_than_a_censored_value() -> None:
    lat = Objective.for_workload(True, timeout_s=30)
    assert lat.penalty(None) == 3000  # before any success: every query timing out 100 times over
    assert lat.penalty(4.0) == 8.0
    assert lat.penalty(4.0, censored=20.0) == 20.0  # a timed-out run measured at least 20 s
    tps = Objective.for_workload(False)
    assert tps.penalty(None) == 0.0 and tps.penalty(100.0) == 50.0


def test_penalty_state_rebuilt_from_records_scores_as_before() -> None:
    lat = Objective.for_workload(True)
    live = PenaltyState(lat)
    for value in (3.0, 5.0, 2.0):
        assert live.score(value, penalised=False) == value
    resumed = PenaltyState(lat, worst_success=lat.worst([3.0, 5.0, 2.0]))
    assert resumed.score(None, penalised=True) == live.score(None, penalised=True) == 10.0
