"""The tabulated backend replays recorded trials: exact and nearest lookup, repeats in turn, failures too."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.backends import (
    TabulatedBackend,
    TrialBackend,
    load_rows,
    recorded_shape,
    select_rows,
)
from raytune.errors import KnobrayError
from raytune.records import TrialStatus
from tests.backends import planted


@pytest.fixture(scope="module")
def backend() -> TabulatedBackend:
    return TabulatedBackend(planted.planted_rows(200), planted.space())


def test_is_a_trial_backend(backend: TabulatedBackend) -> None:
    assert isinstance(backend, TrialBackend)


def test_exact_match_replays_the_recorded_measurement(backend: TabulatedBackend) -> None:
    row = next(r for r in backend.rows if r["trial_id"] == "t0007")
    rec = backend.measure(row["config"], "new1")
    assert rec.trial_id == "new1"
    assert rec.objective == row["objective"]
    assert rec.instance == {"backend": "tabulated", "replays": "t0007", "distance": 0.0}


def test_repeated_config_replays_its_measurements_in_turn() -> None:
    tab = TabulatedBackend(planted.planted_rows(20), planted.space())
    seen = [tab.measure({}, f"d{i}").objective for i in range(6)]
    recorded = [r["objective"] for r in tab.rows if r["config"] == {}]
    assert len(set(recorded)) == 3
    assert seen == recorded + recorded


def test_nearest_config_is_replayed_with_its_distance(backend: TabulatedBackend) -> None:
    row = next(r for r in backend.rows if r["trial_id"] == "t0042")
    nearby = {**row["config"], "shared_buffers": int(row["config"]["shared_buffers"] * 1.01)}
    rec = backend.measure(nearby, "near")
    assert rec.instance["replays"] == "t0042"
    assert 0 < rec.instance["distance"] < 0.01
    assert rec.config == nearby  # the record keeps the configuration asked for
    assert rec.applied == row["applied"]  # and what was measured


def test_recorded_failures_replay(backend: TabulatedBackend) -> None:
    rejected = next(r for r in backend.rows if r["status"] == "REJECTED")
    rec = backend.measure(rejected["config"], "again")
    assert rec.status is TrialStatus.REJECTED
    assert rec.objective is None
    assert "work_mem" in (rec.error or "")


def test_rows_from_a_results_directory(tmp_path: Path) -> None:
    planted.write_planted(tmp_path / "r", n=10)
    rows = load_rows([tmp_path / "r"])
    assert len(rows) == 13
    chosen = select_rows(rows, "postgres", planted.WORKLOAD, "total_latency_s")
    assert recorded_shape(chosen).cpus == 1
    assert recorded_shape(chosen).memory_bytes == planted.HARDWARE.ram_bytes


def test_bad_records_give_one_line_errors(tmp_path: Path) -> None:
    rows = planted.planted_rows(5)
    with pytest.raises(KnobrayError, match="no trial records"):
        load_rows([tmp_path / "empty"])
    with pytest.raises(KnobrayError, match=r"no trials of mariadb .*they hold: postgres tpch-sf0.1"):
        select_rows(rows, "mariadb", None)
    other = [{**r, "workload": {**r["workload"], "data": "tpch-sf1"}} for r in rows]
    with pytest.raises(KnobrayError, match="2 workloads"):
        select_rows(rows + other, "postgres", None)
    assert len(select_rows(rows + other, "postgres", {**planted.WORKLOAD, "data": "tpch-sf1"})) == len(rows)
