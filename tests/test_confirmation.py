"""The confirmation stage's choice of candidates, schedule and verdict, over fake trial rows (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from raytune.confirmation import analyse, pick_candidates, schedule
from raytune.records import Objective

LATENCY = Objective.for_workload(True)
THROUGHPUT = Objective.for_workload(False)


def fake_row(trial_id: str, objective: float | None, config: dict, **extra: Any) -> dict[str, Any]:
    row = {
        "trial_id": trial_id,
        "status": "SUCCEEDED" if objective is not None else "REJECTED",
        "objective": objective,
        "config": config,
        "baseline": None,
        "confirms": None,
        "round": None,
    }
    row.update(extra)
    return row


SEARCH = [
    fake_row("d", 3.0, {}, baseline="default"),
    fake_row("r", 2.8, {"work_mem": "64MB"}, baseline="rules"),
    fake_row("a", 2.0, {"work_mem": "1GB"}),
    fake_row("b", 2.1, {"work_mem": "512MB"}),
    fake_row("a2", 2.2, {"work_mem": "1GB"}),  # the same config again: one candidate
    fake_row("c", 2.5, {"work_mem": "64MB"}),  # equals the rules: confirmed as the rules anyway
    fake_row("x", None, {"work_mem": "4kB"}),
    fake_row("e", 2.6, {"work_mem": "256MB"}),
]


def test_candidates_are_the_best_distinct_configs_other_than_the_baselines() -> None:
    picked = pick_candidates(SEARCH, LATENCY, 3)
    assert [tid for tid, _ in picked] == ["a", "b", "e"]
    assert [tid for tid, _ in pick_candidates(SEARCH, THROUGHPUT, 1)] == ["e"]


def test_schedule_interleaves_rounds_with_the_default_first() -> None:
    items = schedule([("a", {"k": 1}), ("b", {"k": 2})], {"k": 0}, 2)
    assert [(i.confirms, i.round) for i in items] == [
        ("default", 0), ("rules", 0), ("a", 0), ("b", 0),
        ("default", 1), ("b", 1), ("a", 1), ("rules", 1),
    ]  # fmt: skip


def _confirm_rows(values: dict[str, list[float]]) -> list[dict[str, Any]]:
    configs = {
        "default": {},
        "rules": {"work_mem": "64MB"},
        "a": {"work_mem": "1GB"},
        "b": {"work_mem": "512MB"},
    }
    return [
        fake_row(f"{label}-{r}", v, configs[label], confirms=label, round=r)
        for label, vs in values.items()
        for r, v in enumerate(vs)
    ]


def test_a_confirmed_gain_is_crowned_by_its_median_ratio() -> None:
    rows = SEARCH + _confirm_rows(
        {"default": [3.0, 3.1, 2.9], "rules": [2.7, 2.8, 2.7], "a": [2.4, 2.5, 2.3], "b": [2.2, 2.2, 2.1]}
    )
    conf = analyse(rows, LATENCY)
    assert conf is not None and conf.rounds == 3
    crowned = conf.crowned
    assert crowned is not None and crowned.confirms == "b"  # in-search best was "a": the winner's curse
    assert crowned.ratio_to_default == pytest.approx((2.2 / 3.0, 2.2 / 3.1, 2.1 / 2.9))
    assert crowned.median_to_rules == pytest.approx(2.2 / 2.8)  # median of 2.2/2.7, 2.2/2.8, 2.1/2.7
    assert crowned.significant and conf.significant
    assert crowned.in_search == 2.1
    doc = crowned.to_dict(conf.rounds)
    assert set(doc) >= {"ratio_to_default", "ratio_to_rules", "rounds", "significant"}
    assert doc["ratio_to_default"]["median"] == pytest.approx(2.1 / 2.9)  # the median round


def test_ratios_that_straddle_one_are_no_significant_gain() -> None:
    rows = SEARCH + _confirm_rows({"default": [3.0, 2.8, 3.1], "a": [2.9, 2.9, 3.2], "b": [3.05, 2.95, 3.0]})
    conf = analyse(rows, LATENCY)
    assert conf is not None and conf.crowned is not None
    assert not conf.significant and not any(c.significant for c in conf.configs)


def test_a_gain_smaller_than_the_noise_is_not_significant() -> None:
    # Every round slightly better (0.5%), but the default itself varies by ~3% between rounds.
    rows = SEARCH + _confirm_rows({"default": [3.0, 3.1, 2.92], "a": [2.985, 3.084, 2.905]})
    conf = analyse(rows, LATENCY)
    assert conf is not None and conf.crowned is not None and conf.crowned.confirms == "a"
    assert all(r < 1 for r in conf.crowned.ratio_to_default) and not conf.significant


def test_throughput_gains_are_ratios_above_one() -> None:
    rows = _confirm_rows({"default": [100.0, 102.0, 98.0], "a": [130.0, 128.0, 131.0]})
    conf = analyse(rows, THROUGHPUT)
    assert conf is not None and conf.crowned is not None and conf.crowned.significant
    assert conf.crowned.median_to_default == pytest.approx(130.0 / 100.0)


def test_no_confirmation_rows_means_no_confirmation() -> None:
    assert analyse(SEARCH, LATENCY) is None
