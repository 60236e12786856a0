"""Collecting the influence diagram's training runs on real Berkeley DB: Ray Tune over the pool of embedded
instances, each run a db_perf workload under one of the thesis's 32 combinations, recorded with its
per-transaction statistics; a second collection resumes (nothing is measured twice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune.corpus._cli import main
from raytune.storage import TrialStore
from trainables.influence import decision_states, examples_from_rows, knob_config, training_design

pytestmark = pytest.mark.slow


def test_collect_measures_the_training_design_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["collect", "--engine", "berkeleydb", "--mixes", "2", "--sf", "0.2", "--duration", "6",
            "--out", str(tmp_path / "bdb")]  # fmt: skip
    assert main(args) == 0
    runs = tmp_path / "bdb" / "runs"
    assert f"2 succeeded runs in {runs}" in capsys.readouterr().out
    rows = TrialStore(runs).rows()
    assert len(rows) == 2 and {r["status"] for r in rows} == {"SUCCEEDED"}, [r.get("error") for r in rows]
    design = training_design(2)
    for row, item in zip(sorted(rows, key=lambda r: r["workload"]["mix"]["concurrency"]),
                         sorted(design, key=lambda i: _concurrency(i["mix"])), strict=True):  # fmt: skip
        assert row["engine"] == "berkeleydb" and row["workload"]["items"] == 4900
        assert knob_config(decision_states(row["applied"])) == item["config"]  # one of the 32, as planned
        assert row["summary"]["per_txn"]["layout.page_size"] == float(item["config"]["page_size"])
        assert row["objective"] > 0
    assert len(examples_from_rows(rows)) == 2  # what the diagram learns from
    assert main(args) == 0  # resumes: both runs are recorded, nothing runs again
    assert len(TrialStore(runs).rows()) == 2


def _concurrency(mix: str) -> float:
    from raytune.workloads import parse_mix

    return parse_mix(mix).concurrency
