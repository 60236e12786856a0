"""Knob importance finds the planted important knobs; rankings drive --knobs top:K."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raytune.errors import KnobrayError
from raytune.importance import KnobRanking, rank_knobs, relative_costs, top_knobs
from raytune.importance._cli import main
from tests.backends import planted


@pytest.mark.parametrize("evaluator", ["fanova", "ped-anova"])
def test_the_planted_knob_ranks_first(evaluator: str) -> None:
    # Only shared_buffers and jit change the planted latency; shared_buffers by far the most.
    ranking = rank_knobs(relative_costs(planted.planted_rows(200)), planted.space(), evaluator)
    assert ranking.top(1) == ["shared_buffers"]
    assert "jit" in ranking.top(3)
    assert sum(ranking.importance.values()) == pytest.approx(1.0)


def test_costs_are_relative_to_the_workloads_default() -> None:
    points = relative_costs(planted.planted_rows(20))
    assert len(points) == len(
        [r for r in planted.planted_rows(20) if r["status"] == "SUCCEEDED" and r["config"]]
    )
    default = planted.planted_latency({})
    assert default is not None
    config, ratio = points[0]
    assert ratio == pytest.approx(planted.planted_latency(config) / default, rel=0.03)


def test_too_few_trials_and_bad_selectors_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(KnobrayError, match="at least 8"):
        rank_knobs(relative_costs(planted.planted_rows(3)), planted.space())
    with pytest.raises(KnobrayError, match="write top:K"):
        top_knobs("best:3", "postgres")
    ranking = KnobRanking("mariadb", "fanova", 10, {"innodb_buffer_pool_size": 1.0})
    path = ranking.save(tmp_path / "r.json")
    with pytest.raises(KnobrayError, match="is for mariadb, not postgres"):
        top_knobs(f"top:3:{path}", "postgres")
    assert top_knobs(f"top:3:{path}", "mariadb") == ["innodb_buffer_pool_size"]


def test_cli_ranks_a_results_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = planted.write_planted(tmp_path / "r", n=60)
    assert main([str(results)]) == 0
    out = capsys.readouterr().out
    assert " 1. shared_buffers" in out
    doc = json.loads((results / "importance.json").read_text())
    assert next(iter(doc["importance"])) == "shared_buffers"
    assert (results / "importance.png").stat().st_size > 1000
    assert main([str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
